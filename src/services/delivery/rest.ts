import {
  DiscordAPIError,
  HTTPError,
  RateLimitError,
  Routes,
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
  type APIMessage,
  type RawFile,
  type REST,
} from 'discord.js';

/** A message as the bot sends it, independent of which endpoint carries it. */
export interface MessageView {
  readonly content: string;
  readonly embeds: APIEmbed[];
  readonly components: APIActionRowComponent<APIButtonComponent>[];
  readonly allowedMentions: { readonly parse: readonly [] } | { readonly users: readonly string[] };
}

export const EPHEMERAL_FLAG = 1 << 6;

/** Discord JSON codes the delivery logic branches on. */
export const DiscordCode = {
  UnknownChannel: 10003,
  UnknownMessage: 10008,
  UnknownWebhook: 10015,
  MissingAccess: 50001,
  CannotDmUser: 50007,
  MissingPermissions: 50013,
  InvalidWebhookToken: 50027,
  RequestTooLarge: 40005,
} as const;

export function discordCode(error: unknown): number | null {
  return error instanceof DiscordAPIError && typeof error.code === 'number' ? error.code : null;
}

/** The interaction token is no longer good: persist that and never use it again (DESIGN §4). */
export function isDeadTokenError(error: unknown): boolean {
  if (!(error instanceof DiscordAPIError)) return false;
  const code = discordCode(error);
  return (
    error.status === 401 ||
    error.status === 404 ||
    code === DiscordCode.InvalidWebhookToken ||
    code === DiscordCode.UnknownWebhook
  );
}

export function isTooLargeError(error: unknown): boolean {
  return (
    discordCode(error) === DiscordCode.RequestTooLarge || (error instanceof DiscordAPIError && error.status === 413)
  );
}

/** Worth trying again later: Discord 5xx, rate limits and network failures. */
export function isTransientDiscordError(error: unknown): boolean {
  if (error instanceof HTTPError || error instanceof RateLimitError) return true;
  if (error instanceof DiscordAPIError) return error.status >= 500 || error.status === 429;
  return !(error instanceof DiscordAPIError);
}

export interface OutgoingFile {
  readonly name: string;
  readonly data: Buffer;
  readonly contentType: string;
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
  if (options.ephemeral) body.flags = EPHEMERAL_FLAG;
  if (options.nonce) {
    body.nonce = options.nonce;
    body.enforce_nonce = true;
  }
  return body;
}

function toRawFiles(options: SendOptions): RawFile[] | undefined {
  const files = options.files ?? [];
  if (files.length === 0) return undefined;
  return files.map((file, index) => ({
    name: file.name,
    data: file.data,
    contentType: file.contentType,
    key: `files[${index}]`,
  }));
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
      body: toBody(view, { ...options, ephemeral: false }),
      files: toRawFiles(options),
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
      body: toBody(view, { ...options, nonce: undefined }),
      files: toRawFiles(options),
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
      body: toBody(view, { ...options, ephemeral: false, nonce: undefined }),
      files: toRawFiles(options),
    })) as APIMessage;
  }

  async postChannelMessage(channelId: string, view: MessageView, options: SendOptions = {}): Promise<APIMessage> {
    return (await this.rest.post(Routes.channelMessages(channelId), {
      body: toBody(view, { ...options, ephemeral: false }),
      files: toRawFiles(options),
    })) as APIMessage;
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
