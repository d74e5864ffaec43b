import {
  DiscordAPIError,
  MessageFlags,
  RESTJSONErrorCodes,
  Routes,
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
  type APIMessage,
  type RateLimitData,
  type REST,
  type RequestData,
} from 'discord.js';

/** A message as the bot sends it, independent of which endpoint carries it. */
export interface MessageView {
  readonly content: string;
  readonly embeds: APIEmbed[];
  readonly components: APIActionRowComponent<APIButtonComponent>[];
  readonly allowedMentions: { readonly parse: readonly [] } | { readonly users: readonly string[] };
}

export function discordCode(error: unknown): number | null {
  return error instanceof DiscordAPIError && typeof error.code === 'number' ? error.code : null;
}

/**
 * The interaction token is no longer good: persist that and never use it again (DESIGN §4). A 10008
 * Unknown Message on `@original` is not one: the token works, the message it would edit was deleted.
 */
export function isDeadTokenError(error: unknown): boolean {
  if (!(error instanceof DiscordAPIError)) return false;
  const code = discordCode(error);
  if (code === RESTJSONErrorCodes.UnknownMessage) return false;
  return (
    error.status === 401 ||
    error.status === 404 ||
    code === RESTJSONErrorCodes.InvalidWebhookToken ||
    code === RESTJSONErrorCodes.UnknownWebhook
  );
}

export function isTooLargeError(error: unknown): boolean {
  return (
    discordCode(error) === RESTJSONErrorCodes.RequestEntityTooLarge ||
    (error instanceof DiscordAPIError && error.status === 413)
  );
}

/**
 * Worth trying again later: Discord 5xx and 429, and everything that is not a Discord answer at all
 * (HTTPError, RateLimitError, a network failure, a store error, a bug). DESIGN §4 reschedules every
 * step that throws; calling a bug permanent would strand a video that exists, while a retry costs no
 * download (the file is kept) and the runner's 24 h give-up bounds it.
 */
export function isTransientDiscordError(error: unknown): boolean {
  if (!(error instanceof DiscordAPIError)) return true;
  return error.status >= 500 || error.status === 429;
}

/**
 * For `rest.rejectOnRateLimit`: a 429 that names no wait (no Retry-After, no rate-limit headers: an edge or
 * a REST proxy) is handed to our own backoff as a RateLimitError; @discordjs/rest would resend it at once,
 * in a loop. A 429 that says how long to wait is still waited out by the library.
 */
export function isUnpacedRateLimit(limit: Pick<RateLimitData, 'retryAfter'>): boolean {
  return limit.retryAfter <= 0;
}

/** A file to attach; its Blob is read when the request is sent, again for each retry. */
export interface OutgoingFile {
  readonly name: string;
  /** Usually file-backed (`fs.openAsBlob`), so an upload never holds the video in memory. */
  readonly data: Blob;
}

export interface SendOptions {
  readonly files?: readonly OutgoingFile[];
  readonly ephemeral?: boolean;
  readonly nonce?: string | undefined;
  /** Replace the message's attachments (edits): [] removes them. */
  readonly replaceAttachments?: boolean;
}

function toBody(view: MessageView, options: SendOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {
    content: view.content,
    embeds: view.embeds,
    components: view.components,
    allowed_mentions: view.allowedMentions,
  };
  const files = options.files ?? [];
  if (files.length > 0 || options.replaceAttachments) {
    body.attachments = files.map((file, id) => ({ id: String(id), filename: file.name }));
  }
  if (options.ephemeral) body.flags = MessageFlags.Ephemeral;
  if (options.nonce) {
    body.nonce = options.nonce;
    body.enforce_nonce = true;
  }
  return body;
}

/**
 * The request's body: JSON, or with files a multipart form of `payload_json` and the Blobs themselves,
 * passed through (@discordjs/rest would copy each file into a new in-memory Blob). Its rate-limit queue
 * and retries are the same either way; a retry sends the same form, which reads the Blobs again.
 */
function toRequest(view: MessageView, options: SendOptions): Pick<RequestData, 'body' | 'passThroughBody'> {
  const body = toBody(view, options);
  const files = options.files ?? [];
  if (files.length === 0) return { body };
  // The global FormData, not undici's: @discordjs/rest passes a body through only if `instanceof FormData`.
  const form = new FormData();
  form.append('payload_json', JSON.stringify(body));
  for (const [index, file] of files.entries()) form.append(`files[${String(index)}]`, file.data, file.name);
  return { body: form, passThroughBody: true };
}

/**
 * Every message call the job pipeline makes, through the client's REST instance so they honour
 * DISCORD_API_BASE_URL and share its rate-limit queue; interaction-token calls go unauthenticated.
 */
export class DiscordRest {
  constructor(
    private readonly rest: REST,
    private readonly applicationId: string,
  ) {}

  async editOriginal(token: string, view: MessageView, options: SendOptions = {}): Promise<APIMessage> {
    return (await this.rest.patch(Routes.webhookMessage(this.applicationId, token, '@original'), {
      ...toRequest(view, { ...options, ephemeral: false }),
      auth: false,
    })) as APIMessage;
  }

  async getOriginal(token: string): Promise<APIMessage> {
    return (await this.rest.get(Routes.webhookMessage(this.applicationId, token, '@original'), {
      auth: false,
    })) as APIMessage;
  }

  async followUp(token: string, view: MessageView, options: SendOptions = {}): Promise<APIMessage> {
    return (await this.rest.post(Routes.webhook(this.applicationId, token), {
      ...toRequest(view, { ...options, nonce: undefined }),
      query: new URLSearchParams({ wait: 'true' }),
      auth: false,
    })) as APIMessage;
  }

  async editChannelMessage(
    channelId: string,
    messageId: string,
    view: MessageView,
    options: SendOptions = {},
  ): Promise<APIMessage> {
    return (await this.rest.patch(Routes.channelMessage(channelId, messageId), {
      ...toRequest(view, { ...options, ephemeral: false, nonce: undefined }),
    })) as APIMessage;
  }

  async postChannelMessage(channelId: string, view: MessageView, options: SendOptions = {}): Promise<APIMessage> {
    return (await this.rest.post(Routes.channelMessages(channelId), {
      ...toRequest(view, { ...options, ephemeral: false }),
    })) as APIMessage;
  }

  async deleteChannelMessage(channelId: string, messageId: string): Promise<void> {
    await this.rest.delete(Routes.channelMessage(channelId, messageId));
  }

  async recentChannelMessages(channelId: string, limit = 50): Promise<APIMessage[]> {
    return (await this.rest.get(Routes.channelMessages(channelId), {
      query: new URLSearchParams({ limit: String(limit) }),
    })) as APIMessage[];
  }

  async openDm(userId: string): Promise<string> {
    const channel = (await this.rest.post(Routes.userChannels(), { body: { recipient_id: userId } })) as { id: string };
    return channel.id;
  }
}

/** What the delivery services call: the adapter's public surface, so a test's fake can stand in for it. */
export type DiscordRestApi = Pick<DiscordRest, keyof DiscordRest>;
