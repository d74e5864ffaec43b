import {
  DiscordAPIError,
  HTTPError,
  MessageType,
  RateLimitError,
  RESTJSONErrorCodes,
  type APIAttachment,
  type APIMessage,
} from 'discord.js';
import type { DiscordRestApi, MessageView, SendOptions } from '../../src/services/delivery/rest.js';

/** Every call the delivery services make of Discord, as the fake saw it. */
export type RestCall =
  | {
      readonly method: 'editOriginal';
      readonly token: string;
      readonly view: MessageView;
      readonly options: SendOptions;
    }
  | { readonly method: 'getOriginal'; readonly token: string }
  | { readonly method: 'followUp'; readonly token: string; readonly view: MessageView; readonly options: SendOptions }
  | {
      readonly method: 'editChannelMessage';
      readonly channelId: string;
      readonly messageId: string;
      readonly view: MessageView;
      readonly options: SendOptions;
    }
  | {
      readonly method: 'postChannelMessage';
      readonly channelId: string;
      readonly view: MessageView;
      readonly options: SendOptions;
    }
  | { readonly method: 'deleteChannelMessage'; readonly channelId: string; readonly messageId: string }
  | { readonly method: 'recentChannelMessages'; readonly channelId: string }
  | { readonly method: 'openDm'; readonly userId: string };

export type RestMethod = RestCall['method'];

/** A real DiscordAPIError, as @discordjs/rest throws it for a 4xx answer. */
export function discordError(status: number, code: number, message = 'scripted'): DiscordAPIError {
  return new DiscordAPIError({ code, message }, code, status, 'PATCH', 'https://discord.test/api/v10/scripted', {});
}

/** What @discordjs/rest throws once its own retries of a 5xx are spent. */
export function httpError(status = 503): HTTPError {
  return new HTTPError(status, 'Service Unavailable', 'PATCH', 'https://discord.test/api/v10/scripted', {});
}

/** What @discordjs/rest throws for a 429 when `rejectOnRateLimit` hands it back. */
export function rateLimitError(): RateLimitError {
  return new RateLimitError({
    timeToReset: 1_000,
    limit: 5,
    method: 'PATCH',
    hash: 'scripted',
    url: 'https://discord.test/api/v10/scripted',
    route: '/channels/:id/messages/:id',
    majorParameter: '1',
    global: false,
    retryAfter: 1_000,
    sublimitTimeout: 0,
    scope: 'user',
  });
}

export const Codes = RESTJSONErrorCodes;

let nextId = 900_000_000_000_000_000n;

/**
 * Discord's REST API as the delivery services see it (DiscordRestApi): every call recorded, answers made
 * up from the body sent, and failures scripted per method, in order.
 */
export class FakeRest implements DiscordRestApi {
  readonly calls: RestCall[] = [];
  /** What `recentChannelMessages` answers, per channel. */
  readonly recent = new Map<string, APIMessage[]>();
  readonly dmChannelId = '880000000000000001';
  readonly #failures = new Map<RestMethod, Error[]>();

  /** The next calls of `method` throw these, one each, before it answers again. */
  failNext(method: RestMethod, ...errors: Error[]): void {
    this.#failures.set(method, [...(this.#failures.get(method) ?? []), ...errors]);
  }

  of<M extends RestMethod>(method: M): Array<Extract<RestCall, { method: M }>> {
    return this.calls.filter((c): c is Extract<RestCall, { method: M }> => c.method === method);
  }

  /** The calls that sent a message (edits and posts), in order. */
  get sends(): Array<Extract<RestCall, { view: MessageView }>> {
    return this.calls.filter((c): c is Extract<RestCall, { view: MessageView }> => 'view' in c);
  }

  async editOriginal(token: string, view: MessageView, options: SendOptions = {}): Promise<APIMessage> {
    this.#record({ method: 'editOriginal', token, view, options });
    return message('777000000000000001', '333333333333333333', view, options);
  }

  async getOriginal(token: string): Promise<APIMessage> {
    this.#record({ method: 'getOriginal', token });
    return message('777000000000000001', '333333333333333333', { content: '', embeds: [], components: [] }, {});
  }

  async followUp(token: string, view: MessageView, options: SendOptions = {}): Promise<APIMessage> {
    this.#record({ method: 'followUp', token, view, options });
    return message(newId(), '333333333333333333', view, options);
  }

  async editChannelMessage(
    channelId: string,
    messageId: string,
    view: MessageView,
    options: SendOptions = {},
  ): Promise<APIMessage> {
    this.#record({ method: 'editChannelMessage', channelId, messageId, view, options });
    return message(messageId, channelId, view, options);
  }

  async postChannelMessage(channelId: string, view: MessageView, options: SendOptions = {}): Promise<APIMessage> {
    this.#record({ method: 'postChannelMessage', channelId, view, options });
    return message(newId(), channelId, view, options);
  }

  async deleteChannelMessage(channelId: string, messageId: string): Promise<void> {
    this.#record({ method: 'deleteChannelMessage', channelId, messageId });
  }

  async recentChannelMessages(channelId: string): Promise<APIMessage[]> {
    this.#record({ method: 'recentChannelMessages', channelId });
    return this.recent.get(channelId) ?? [];
  }

  async openDm(userId: string): Promise<string> {
    this.#record({ method: 'openDm', userId });
    return this.dmChannelId;
  }

  #record(call: RestCall): void {
    this.calls.push(call);
    const failure = this.#failures.get(call.method)?.shift();
    if (failure !== undefined) throw failure;
  }
}

function newId(): string {
  nextId += 1n;
  return String(nextId);
}

/** A message as Discord would answer with it. */
export function message(
  id: string,
  channelId: string,
  view: Pick<MessageView, 'content' | 'embeds' | 'components'>,
  options: SendOptions,
): APIMessage {
  const attachments: APIAttachment[] = (options.files ?? []).map((file, index) => ({
    id: String(index),
    filename: file.name,
    size: file.data.size,
    url: `https://cdn.discord.test/${file.name}`,
    proxy_url: `https://media.discord.test/${file.name}`,
  }));
  return {
    id,
    channel_id: channelId,
    author: { id: '999999999999999999', username: 'veo', discriminator: '0', global_name: null, avatar: null },
    content: view.content,
    timestamp: new Date(0).toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    attachments,
    embeds: view.embeds,
    components: view.components,
    pinned: false,
    type: MessageType.Default,
  };
}
