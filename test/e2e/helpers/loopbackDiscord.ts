/**
 * A loopback Discord for end-to-end tests: one HTTP server on 127.0.0.1 serving the REST API under
 * `/api/v10` and the gateway WebSocket, enough for the real discord.js client to log in, receive
 * interactions and answer them. Every request is recorded, matched to its operation and checked
 * against Discord's schemas and rules (see discordSchemas.ts); breaches the bot is responsible for
 * land in `violations`. Facts and conventions: ../../../../shared/discord-testing.md.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PermissionFlagsBits } from 'discord.js';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { matchRoute, validateDiscordRequest } from './discordSchemas.js';

// ---------------------------------------------------------------------------------------------
// Public types

export interface RecordedFile {
  field: string;
  fileName: string;
  contentType: string;
  size: number;
  bytes: Buffer;
}

export interface RecordedRequest {
  /** Global order across REST requests (numbered on arrival) and gateway dispatches (numbered when sent). */
  seq: number;
  /** HTTP method, or 'GATEWAY' for a dispatch the loopback sent. */
  method: string;
  /** Path after /api/v10, e.g. /interactions/123/tok/callback; for 'GATEWAY' the event name. */
  path: string;
  query: Record<string, string>;
  authorization: string | undefined;
  /** Parsed JSON, or parsed payload_json for multipart; for 'GATEWAY' the dispatch's `d`. */
  body: unknown;
  files: RecordedFile[];
  /** Operation name (camelCase operationId, e.g. 'createInteractionResponse'); for 'GATEWAY' the event name. */
  operation: string | null;
  violations: string[];
  /** HTTP status answered; 0 for 'GATEWAY'. */
  status: number;
  /** performance.now() when the body had fully arrived, or when the dispatch was sent (benchmarks only). */
  at: number;
}

export interface GuildFixture {
  id: string;
  name: string;
  channelId: string;
  threadId?: string;
  premiumTier: number;
  /** guild_locale of interactions in this guild (default 'en-US'). */
  preferredLocale?: string;
  /**
   * The bot's computed permissions in `channelId` (its thread inherits them, as Discord threads do).
   * Default: everything a well set-up channel grants (DEFAULT_BOT_PERMISSIONS).
   */
  botPermissions?: bigint;
}

export interface DiscordUser {
  id: string;
  username: string;
  discriminator: string;
  global_name: string | null;
  avatar: string | null;
  bot?: boolean;
}

export interface StoredAttachment {
  id: string;
  filename: string;
  size: number;
  content_type: string;
  url: string;
  proxy_url: string;
  description?: string;
  /** Not part of Discord's JSON: the uploaded bytes. */
  bytes: Buffer;
}

export interface StoredMessage {
  id: string;
  type: number;
  channel_id: string;
  guild_id: string | undefined;
  author: DiscordUser;
  content: string;
  embeds: unknown[];
  components: unknown[];
  attachments: StoredAttachment[];
  flags: number;
  tts: boolean;
  nonce: string | number | undefined;
  timestamp: string;
  edited_timestamp: string | null;
  webhook_id: string | undefined;
  application_id: string | undefined;
  interaction_metadata: Record<string, unknown> | undefined;
  message_reference: unknown;
  // Loopback bookkeeping (not sent as part of the message JSON):
  /** The interaction this message answers (original response or follow-up), if any. */
  interactionId: string | undefined;
  ephemeral: boolean;
  deleted: boolean;
  editCount: number;
}

export interface StartOptions {
  applicationId?: string;
  botUserId?: string;
  guilds?: GuildFixture[];
  /** Shard count recommended by GET /gateway/bot (default 1). Guilds and interactions go to shard (guild_id >> 22) % count. */
  shards?: number;
  /** `session_start_limit.max_concurrency` of GET /gateway/bot (default 1): IDENTIFY buckets are shard % this. */
  maxConcurrency?: number;
  /**
   * GUILD_CREATE payloads carry this many more text channels (two permission overwrites each) and roles
   * per guild, as a typical server has (default none): for memory figures, never addressed by a test.
   */
  guildProfile?: { channels: number; roles: number };
  /** Clock for token lifetimes and nonce windows (default Date.now). */
  now?: () => number;
  /**
   * An acknowledgement later than this after the dispatch gets 404 10062, as Discord answers after its 3 s.
   * Default 3000; `false` opts out (a test that holds the bot's event loop on purpose).
   */
  ackDeadlineMs?: number | false;
  /** Gateway heartbeat interval sent in HELLO (default 41250). */
  heartbeatIntervalMs?: number;
  /**
   * Who owns the application (GET /applications/@me): a user (default: a fresh id, not `userId`), or a
   * team of these user ids (the first is the team's owner).
   */
  applicationOwner?: { userId: string } | { team: string[] };
}

export interface FaultAnswer {
  status: number;
  code: number;
  message: string;
  /** Seconds; sent as Retry-After and retry_after (for 429). */
  retryAfter?: number;
}

export interface InteractionHandle {
  interactionId: string;
  token: string;
  /** seq of the INTERACTION_CREATE dispatch in `requests`. */
  seq: number;
}

export interface SlashCommandInput {
  name: string;
  /** A subcommand group (`/veo-admin filter add`): `subcommand` is then the group's subcommand. */
  group?: string;
  subcommand?: string;
  options?: { name: string; type: number; value: string | number | boolean }[];
  userId?: string;
  locale?: string;
  /** null = in the bot's DM with the user. */
  guildId?: string | null;
  /** Defaults to the guild's channelId (or the DM channel). */
  channelId?: string;
  memberPermissions?: string;
  attachmentSizeLimit?: number;
  attachments?: { id: string; filename: string; size: number; contentType: string; url: string }[];
}

export interface ModalSubmitInput {
  customId: string;
  /** The message whose button opened the modal; omitted for a modal opened by a slash command. */
  messageId?: string;
  /** The submitted text inputs, by custom_id (sent inside Label components, as Discord does). */
  fields: Record<string, string>;
  userId?: string;
  locale?: string;
  guildId?: string | null;
  channelId?: string;
  memberPermissions?: string;
  attachmentSizeLimit?: number;
}

/** A string select menu choice (component_type 3) on a message the bot sent. */
export interface SelectMenuInput {
  customId: string;
  messageId: string;
  values: string[];
  userId?: string;
  locale?: string;
  memberPermissions?: string;
}

export interface ButtonClickInput {
  customId: string;
  messageId: string;
  userId?: string;
  locale?: string;
  guildId?: string | null;
  channelId?: string;
  memberPermissions?: string;
  attachmentSizeLimit?: number;
}

// ---------------------------------------------------------------------------------------------
// Constants and small helpers

const API_PREFIX = '/api/v10';
const MiB = 1024 * 1024;
const TOKEN_LIFETIME_MS = 15 * 60 * 1000;
const NONCE_WINDOW_MS = 5 * 60 * 1000;
const EPHEMERAL = 64;
const LOADING = 128;
/** Flags a bot may set on a message it creates (SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2). */
const SETTABLE_FLAGS = 4 | EPHEMERAL | 4096 | 32768;

/**
 * Discord's published per-file upload limit by server boost tier (no boost and tier 1: 10 MiB; tier 2:
 * 50 MiB; tier 3: 100 MiB); DMs get the unboosted limit. Written from Discord's facts, not the bot's table.
 */
const UPLOAD_LIMIT_BY_BOOST_TIER: readonly number[] = [10 * MiB, 10 * MiB, 50 * MiB, 100 * MiB];

export function discordUploadLimit(premiumTier: number): number {
  return UPLOAD_LIMIT_BY_BOOST_TIER[Math.min(3, Math.max(0, premiumTier))] ?? 10 * MiB;
}

const P = PermissionFlagsBits;
/** What the bot holds in a well set-up channel, and in DMs. */
export const DEFAULT_BOT_PERMISSIONS =
  P.ViewChannel |
  P.SendMessages |
  P.SendMessagesInThreads |
  P.EmbedLinks |
  P.AttachFiles |
  P.ReadMessageHistory |
  P.UseExternalEmojis |
  P.AddReactions |
  P.UseApplicationCommands;
/** A regular member: the above plus Create Invite, Change Nickname, Connect and Speak. */
const DEFAULT_MEMBER_PERMISSIONS = String(
  DEFAULT_BOT_PERMISSIONS | P.CreateInstantInvite | P.ChangeNickname | P.Connect | P.Speak,
);

const DISCORD_EPOCH = 1420070400000n;
let lastSnowflake = 0n;
function snowflake(): string {
  let value = ((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | (1n << 17n);
  if (value <= lastSnowflake) value = lastSnowflake + 1n;
  lastSnowflake = value;
  return value.toString();
}

function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

function shardOf(guildId: string | null, shardCount: number): number {
  if (guildId === null) return 0;
  return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}

interface Answer {
  status: number;
  json?: unknown;
  headers?: Record<string, string>;
}

function ok(json: unknown, status = 200): Answer {
  return { status, json };
}
function noContent(): Answer {
  return { status: 204 };
}
function fail(status: number, code: number, message: string): Answer {
  return { status, json: { code, message } };
}

// ---------------------------------------------------------------------------------------------
// Internal state

interface ChannelState {
  id: string;
  type: number;
  guildId: string | null;
  name: string;
  parentId: string | null;
  recipient: DiscordUser | null;
  /** The bot's permissions here; null in DMs and threads (a thread takes its parent's). */
  botPermissions: bigint | null;
}

interface InteractionState {
  id: string;
  token: string;
  kind: 2 | 3 | 5;
  createdAt: number;
  dispatchedAt: number | null;
  expired: boolean;
  guildId: string | null;
  channelId: string;
  user: DiscordUser;
  attachmentSizeLimit: number;
  commandName: string | null;
  ack: { type: number } | null;
  /** The message `@original` resolves to: the reply, or for a component interaction the message clicked until replaced. */
  originalMessageId: string | null;
  deferPending: boolean;
  deferEphemeral: boolean;
  messageIds: Set<string>;
  metadata: Record<string, unknown>;
}

interface Session {
  id: string;
  shard: [number, number];
  seq: number;
  log: { s: number; t: string; d: unknown }[];
  socket: WebSocket | null;
  ready: boolean;
}

interface PendingDispatch {
  t: string;
  d: unknown;
  shardId: number;
  resolve: (seq: number) => void;
}

interface Fault {
  method: string | undefined;
  pathIncludes: string | RegExp | undefined;
  answer: FaultAnswer;
  remaining: number;
}

interface RequestWaiter {
  predicate: (r: RecordedRequest) => boolean;
  afterSeq: number;
  resolve: (r: RecordedRequest) => void;
  cancel: () => void;
}

interface StoredCommand {
  id: string;
  data: Record<string, unknown>;
}

interface ParsedBody {
  body: unknown;
  files: RecordedFile[];
  error: string | null;
}

// ---------------------------------------------------------------------------------------------

export class LoopbackDiscord {
  readonly apiBase: string;
  readonly applicationId: string;
  readonly botUserId: string;
  /** The only token accepted as `Bot <token>` (REST) and in IDENTIFY. */
  readonly botToken: string;
  /** The default user interactions come from. */
  readonly userId: string;
  /** The application's owner, or its team's members, as GET /applications/@me reports them. */
  readonly applicationOwnerIds: readonly string[];
  private readonly applicationTeam: boolean;
  readonly guilds: readonly GuildFixture[];
  readonly requests: RecordedRequest[] = [];
  readonly violations: string[] = [];
  readonly messages = new Map<string, StoredMessage>();
  identifyCount = 0;
  resumeCount = 0;
  /** Every IDENTIFY accepted, in arrival order (`at`: performance.now() here). */
  readonly identifies: { shard: number; count: number; at: number }[] = [];

  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly gatewayUrl: string;
  private shardCount: number;
  private maxConcurrency: number;
  private readonly guildProfile: { channels: number; roles: number } | undefined;
  private readonly now: () => number;
  private readonly ackDeadlineMs: number | false;
  private readonly heartbeatIntervalMs: number;
  private readonly botUser: DiscordUser;
  private readonly users = new Map<string, DiscordUser>();
  private readonly channels = new Map<string, ChannelState>();
  private readonly dmChannels = new Map<string, string>();
  private readonly interactionsById = new Map<string, InteractionState>();
  private readonly interactionsByToken = new Map<string, InteractionState>();
  private readonly globalCommands = new Map<string, StoredCommand>();
  private readonly guildCommands = new Map<string, Map<string, StoredCommand>>();
  private readonly nonces = new Map<string, { messageId: string; at: number }>();
  private readonly sessions: Session[] = [];
  private readonly pending: PendingDispatch[] = [];
  private readonly faults: Fault[] = [];
  private readonly holds: { predicate: (r: RecordedRequest) => boolean; remaining: number }[] = [];
  private readonly heldResponses: (() => void)[] = [];
  private gatewayDown = false;
  private readonly waiters = new Set<RequestWaiter>();
  private readonly readyWaiters: (() => void)[] = [];
  private readonly sockets = new Set<WebSocket>();
  private nextSeq = 1;
  private everReady = false;
  private closed = false;

  private constructor(server: Server, wss: WebSocketServer, port: number, options: StartOptions) {
    this.server = server;
    this.wss = wss;
    this.apiBase = `http://127.0.0.1:${port}/api`;
    this.gatewayUrl = `ws://127.0.0.1:${port}`;
    this.applicationId = options.applicationId ?? options.botUserId ?? snowflake();
    this.botUserId = options.botUserId ?? this.applicationId;
    this.botToken = `${Buffer.from(this.botUserId).toString('base64').replace(/=+$/, '')}.${randomToken(5)}.${randomToken(28)}`;
    this.shardCount = Math.max(1, options.shards ?? 1);
    this.maxConcurrency = Math.max(1, options.maxConcurrency ?? 1);
    this.guildProfile = options.guildProfile;
    this.now = options.now ?? Date.now;
    this.ackDeadlineMs = options.ackDeadlineMs ?? 3000;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 41_250;
    this.botUser = {
      id: this.botUserId,
      username: 'Veo Bot',
      discriminator: '0000',
      global_name: null,
      avatar: null,
      bot: true,
    };
    this.users.set(this.botUserId, this.botUser);
    this.userId = snowflake();
    const owner = options.applicationOwner ?? { userId: snowflake() };
    this.applicationTeam = 'team' in owner;
    this.applicationOwnerIds = 'team' in owner ? [...owner.team] : [owner.userId];
    this.guilds = options.guilds?.length
      ? options.guilds.map((g) => ({ ...g }))
      : [{ id: snowflake(), name: 'Loopback Guild', channelId: snowflake(), threadId: snowflake(), premiumTier: 0 }];
    for (const g of this.guilds) {
      this.channels.set(g.channelId, {
        id: g.channelId,
        type: 0,
        guildId: g.id,
        name: 'general',
        parentId: null,
        recipient: null,
        botPermissions: g.botPermissions ?? DEFAULT_BOT_PERMISSIONS,
      });
      if (g.threadId !== undefined) {
        this.channels.set(g.threadId, {
          id: g.threadId,
          type: 11,
          guildId: g.id,
          name: 'veo-thread',
          parentId: g.channelId,
          recipient: null,
          botPermissions: null,
        });
      }
    }
  }

  static async start(options: StartOptions = {}): Promise<LoopbackDiscord> {
    const server = createServer();
    const wss = new WebSocketServer({ server });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const loopback = new LoopbackDiscord(server, wss, port, options);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      loopback.handleHttp(req, res).catch((error: unknown) => {
        loopback.violations.push(
          `loopback internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 0, message: '500: Internal Server Error' }));
      });
    });
    wss.on('connection', (socket: WebSocket) => {
      loopback.onGatewayConnection(socket);
    });
    return loopback;
  }

  /**
   * What GET /gateway/bot recommends from now on, and the only count IDENTIFY accepts (4010 otherwise):
   * the loopback's side of a reshard.
   */
  recommendShards(count: number, maxConcurrency = this.maxConcurrency): void {
    this.shardCount = Math.max(1, count);
    this.maxConcurrency = Math.max(1, maxConcurrency);
  }

  /** The first guild. */
  get guild(): GuildFixture {
    const first = this.guilds[0];
    if (!first) throw new Error('no guild fixture');
    return first;
  }

  // -------------------------------------------------------------------------------------------
  // Test-facing API

  /** Resolves once a client has IDENTIFIED and been sent READY and its GUILD_CREATEs. */
  waitForReady(): Promise<void> {
    if (this.everReady) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  slashCommand(input: SlashCommandInput): Promise<InteractionHandle> {
    const ctx = this.interactionContext(input.guildId, input.channelId, input.userId);
    const attachments = input.attachments ?? [];
    let options: unknown[] = (input.options ?? []).map((o) => ({ name: o.name, type: o.type, value: o.value }));
    if (input.subcommand !== undefined) options = [{ type: 1, name: input.subcommand, options }];
    if (input.group !== undefined) options = [{ type: 2, name: input.group, options }];
    const registered =
      (ctx.guildId !== null ? this.guildCommands.get(ctx.guildId)?.get(input.name) : undefined) ??
      this.globalCommands.get(input.name);
    const data: Record<string, unknown> = {
      id: registered?.id ?? snowflake(),
      name: input.name,
      type: 1,
      options,
    };
    if (registered && isRecord(registered.data) && typeof registered.data.guild_id === 'string')
      data.guild_id = registered.data.guild_id;
    const channelOptions = (input.options ?? []).filter((o) => o.type === 7 && typeof o.value === 'string');
    if (channelOptions.length > 0) {
      // Discord resolves a channel option with the invoking member's permissions there (not the bot's).
      data.resolved = {
        channels: Object.fromEntries(
          channelOptions.map((o) => {
            const channel = this.channels.get(String(o.value));
            if (!channel) throw new Error(`slashCommand: unknown channel ${String(o.value)}`);
            const permissions = input.memberPermissions ?? DEFAULT_MEMBER_PERMISSIONS;
            return [channel.id, { id: channel.id, name: channel.name, type: channel.type, permissions }];
          }),
        ),
      };
    }
    if (attachments.length > 0) {
      data.resolved = {
        ...(isRecord(data.resolved) ? data.resolved : {}),
        attachments: Object.fromEntries(
          attachments.map((a) => [
            a.id,
            {
              id: a.id,
              filename: a.filename,
              size: a.size,
              url: a.url,
              proxy_url: a.url,
              content_type: a.contentType,
              width: 1280,
              height: 720,
              ephemeral: true,
            },
          ]),
        ),
      };
    }
    return this.dispatchInteraction(2, ctx, input, data, null, input.name);
  }

  buttonClick(input: ButtonClickInput): Promise<InteractionHandle> {
    let message = this.messages.get(input.messageId);
    const ctx = this.interactionContext(
      input.guildId === undefined && message ? (message.guild_id ?? null) : input.guildId,
      input.channelId ?? message?.channel_id,
      input.userId,
    );
    if (!message) {
      message = this.storeMessage({
        id: input.messageId,
        channelId: ctx.channelId,
        payload: {
          content: '',
          components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Button', custom_id: input.customId }] }],
        },
        files: [],
        flags: 0,
        type: 0,
        interaction: null,
      });
    }
    const data = { component_type: 2, custom_id: input.customId };
    return this.dispatchInteraction(3, ctx, input, data, message, null);
  }

  /** A member's choice in a string select menu of a message the bot sent (ephemeral ones included). */
  selectMenu(input: SelectMenuInput): Promise<InteractionHandle> {
    const message = this.messages.get(input.messageId);
    if (!message) throw new Error(`selectMenu: unknown message ${input.messageId}`);
    const ctx = this.interactionContext(message.guild_id ?? null, message.channel_id, input.userId);
    const data = { component_type: 3, custom_id: input.customId, values: input.values };
    return this.dispatchInteraction(3, ctx, input, data, message, null);
  }

  /** Another text channel in a guild, with the bot's permissions there (default: a well set-up channel). */
  addTextChannel(guildId: string, name: string, botPermissions: bigint = DEFAULT_BOT_PERMISSIONS): string {
    this.guildById(guildId);
    const id = snowflake();
    this.channels.set(id, { id, type: 0, guildId, name, parentId: null, recipient: null, botPermissions });
    return id;
  }

  /** A MODAL_SUBMIT (type 5) interaction, as sent after a member submits a modal the bot showed. */
  modalSubmit(input: ModalSubmitInput): Promise<InteractionHandle> {
    const message = input.messageId === undefined ? undefined : this.messages.get(input.messageId);
    const ctx = this.interactionContext(
      input.guildId === undefined && message ? (message.guild_id ?? null) : input.guildId,
      input.channelId ?? message?.channel_id,
      input.userId,
    );
    const components = Object.entries(input.fields).map(([customId, value], i) => ({
      type: 18,
      id: 2 * i + 1,
      component: { type: 4, id: 2 * i + 2, custom_id: customId, value },
    }));
    const data = { custom_id: input.customId, components };
    return this.dispatchInteraction(5, ctx, input, data, message ?? null, null);
  }

  waitForRequest(
    predicate: (r: RecordedRequest) => boolean,
    options: { afterSeq?: number; timeoutMs?: number } = {},
  ): Promise<RecordedRequest> {
    const afterSeq = options.afterSeq ?? 0;
    const existing = this.requests.find((r) => r.seq > afterSeq && predicate(r));
    if (existing) return Promise.resolve(existing);
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const waiter: RequestWaiter = {
        predicate,
        afterSeq,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        // On close the promise simply stays pending (a rejection nobody awaits would fail the run).
        cancel: () => {
          clearTimeout(timer);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const recent = this.requests
          .slice(-10)
          .map((r) => `#${r.seq} ${r.method} ${r.path} -> ${r.status}`)
          .join('\n  ');
        reject(
          new Error(
            `waitForRequest: no matching request after #${afterSeq} within ${timeoutMs} ms; recent:\n  ${recent}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  requestsAfter(seq: number): RecordedRequest[] {
    return this.requests.filter((r) => r.seq > seq);
  }

  /** The message `@original` currently resolves to for that interaction token. */
  originalMessage(interactionToken: string): StoredMessage | undefined {
    const interaction = this.interactionsByToken.get(interactionToken);
    if (!interaction || interaction.originalMessageId === null) return undefined;
    return this.messages.get(interaction.originalMessageId);
  }

  /** Non-deleted messages of a channel, oldest first, ephemeral ones included (the REST list hides those). */
  channelMessages(channelId: string): StoredMessage[] {
    return [...this.messages.values()].filter((m) => m.channel_id === channelId && !m.deleted);
  }

  /** Commands registered with PUT/POST (global when guildId is omitted), as the loopback echoed them. */
  registeredCommands(guildId?: string): Record<string, unknown>[] {
    const map = guildId === undefined ? this.globalCommands : this.guildCommands.get(guildId);
    return map ? [...map.values()].map((c) => c.data) : [];
  }

  /** The DM channel id between the bot and a user (created on demand, as POST /users/@me/channels does). */
  dmChannelId(userId: string): string {
    return this.dmChannelFor(this.userFor(userId)).id;
  }

  failNext(match: { method?: string; pathIncludes?: string | RegExp }, answer: FaultAnswer, times = 1): void {
    this.faults.push({
      method: match.method?.toUpperCase(),
      pathIncludes: match.pathIncludes,
      answer,
      remaining: times,
    });
  }

  /** Drops every fault still queued by failNext. */
  clearFaults(): void {
    this.faults.splice(0);
  }

  /**
   * Changes the bot's permissions in a guild channel (and so in its threads), as a server admin editing
   * the channel's overwrites would. Later interactions carry them as app_permissions.
   */
  setBotPermissions(channelId: string, permissions: bigint): void {
    const channel = this.channels.get(channelId);
    if (!channel || channel.guildId === null || channel.type === 11)
      throw new Error(`setBotPermissions: ${channelId} is not a guild channel (threads take their parent's)`);
    channel.botPermissions = permissions;
  }

  /** The bot's permissions in a channel; null where Discord checks none (DMs). */
  botPermissionsIn(channelId: string): bigint | null {
    const channel = this.channels.get(channelId);
    if (!channel || channel.guildId === null) return null;
    const source = channel.type === 11 && channel.parentId !== null ? this.channels.get(channel.parentId) : channel;
    return source?.botPermissions ?? 0n;
  }

  expireToken(token: string): void {
    const interaction = this.interactionsByToken.get(token);
    if (!interaction) throw new Error('expireToken: unknown interaction token');
    interaction.expired = true;
  }

  /**
   * Apply the next `times` matching REST requests (message stored or edited, request recorded) but hold
   * their responses until `releaseHeld()` or close: Discord did it, the client never heard (crash tests).
   */
  holdResponses(predicate: (r: RecordedRequest) => boolean, times = 1): void {
    this.holds.push({ predicate, remaining: times });
  }

  /** Sends the held responses (to clients still connected). */
  releaseHeld(): void {
    for (const respond of this.heldResponses.splice(0)) respond();
  }

  /** While down, new gateway connections are dropped at once (and going down closes the open ones). */
  setGatewayDown(down: boolean): void {
    this.gatewayDown = down;
    if (down) this.disconnectGateway();
  }

  /** Close every gateway socket with `code` (default 4000, after which discord.js resumes; 1000 makes it IDENTIFY anew). */
  disconnectGateway(code = 4000): void {
    for (const socket of this.sockets) {
      if (socket.readyState === WebSocket.OPEN) socket.close(code, 'loopback disconnect');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiters) waiter.cancel();
    this.waiters.clear();
    for (const socket of this.sockets) socket.terminate();
    this.sockets.clear();
    await new Promise<void>((resolve) => {
      this.wss.close(() => {
        resolve();
      });
    });
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
      this.server.closeAllConnections();
    });
  }

  // -------------------------------------------------------------------------------------------
  // Recording

  private record(rec: RecordedRequest, template: string | null): void {
    let index = this.requests.length;
    while (index > 0 && (this.requests[index - 1]?.seq ?? 0) > rec.seq) index--;
    this.requests.splice(index, 0, rec);
    for (const v of rec.violations) this.violations.push(`#${rec.seq} ${rec.method} ${template ?? rec.path}: ${v}`);
    for (const waiter of [...this.waiters]) {
      if (rec.seq > waiter.afterSeq && waiter.predicate(rec)) {
        this.waiters.delete(waiter);
        waiter.resolve(rec);
      }
    }
  }

  private recordDispatch(t: string, d: unknown): number {
    const seq = this.nextSeq++;
    this.record(
      {
        seq,
        method: 'GATEWAY',
        path: t,
        query: {},
        authorization: undefined,
        body: d,
        files: [],
        operation: t,
        violations: [],
        status: 0,
        at: performance.now(),
      },
      null,
    );
    return seq;
  }

  // -------------------------------------------------------------------------------------------
  // Gateway

  private onGatewayConnection(socket: WebSocket): void {
    if (this.gatewayDown) {
      socket.terminate();
      return;
    }
    this.sockets.add(socket);
    const conn: { session: Session | null } = { session: null };
    this.send(socket, { op: 10, d: { heartbeat_interval: this.heartbeatIntervalMs }, s: null, t: null });
    socket.on('message', (data: RawData) => {
      this.onGatewayMessage(socket, conn, data);
    });
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (conn.session?.socket === socket) conn.session.socket = null;
    });
  }

  private send(socket: WebSocket, payload: unknown): void {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(payload));
  }

  private onGatewayMessage(socket: WebSocket, conn: { session: Session | null }, data: RawData): void {
    let text: string;
    if (Buffer.isBuffer(data)) text = data.toString('utf8');
    else if (Array.isArray(data)) text = Buffer.concat(data).toString('utf8');
    else text = Buffer.from(data).toString('utf8');
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      socket.close(4002, 'Error while decoding payload.');
      return;
    }
    if (!isRecord(payload)) {
      socket.close(4002, 'Error while decoding payload.');
      return;
    }
    const d = isRecord(payload.d) ? payload.d : {};
    switch (payload.op) {
      case 1:
        this.send(socket, { op: 11, d: null, s: null, t: null });
        return;
      case 2:
        this.onIdentify(socket, conn, d);
        return;
      case 6:
        this.onResume(socket, conn, d);
        return;
      default:
        return; // presence updates, member requests...: nothing to do
    }
  }

  private tokenMatches(token: unknown): boolean {
    return typeof token === 'string' && token.replace(/^Bot\s+/i, '') === this.botToken;
  }

  private onIdentify(socket: WebSocket, conn: { session: Session | null }, d: Record<string, unknown>): void {
    if (conn.session) {
      socket.close(4005, 'Already authenticated.');
      return;
    }
    if (!this.tokenMatches(d.token)) {
      this.violations.push('gateway: IDENTIFY with a wrong token');
      socket.close(4004, 'Authentication failed.');
      return;
    }
    const shardIn = asArray(d.shard);
    const shardId = typeof shardIn[0] === 'number' ? shardIn[0] : 0;
    const shardCount = typeof shardIn[1] === 'number' ? shardIn[1] : 1;
    if (shardCount !== this.shardCount || shardId >= shardCount) {
      socket.close(4010, 'Invalid shard.');
      return;
    }
    const session: Session = {
      id: randomBytes(16).toString('hex'),
      shard: [shardId, shardCount],
      seq: 0,
      log: [],
      socket,
      ready: false,
    };
    this.sessions.push(session);
    conn.session = session;
    this.identifyCount++;
    this.identifies.push({ shard: shardId, count: shardCount, at: performance.now() });
    const guilds = this.guilds.filter((g) => shardOf(g.id, this.shardCount) === shardId);
    this.sendDispatch(session, 'READY', {
      v: 10,
      user: { ...this.botUser, verified: true, mfa_enabled: true, flags: 0, email: null },
      guilds: guilds.map((g) => ({ id: g.id, unavailable: true })),
      session_id: session.id,
      session_type: 'normal',
      resume_gateway_url: this.gatewayUrl,
      shard: [shardId, shardCount],
      application: { id: this.applicationId, flags: 0 },
      private_channels: [],
      relationships: [],
      presences: [],
      guild_join_requests: [],
      geo_ordered_rtc_regions: [],
      _trace: ['loopback'],
    });
    for (const g of guilds) this.sendDispatch(session, 'GUILD_CREATE', this.guildCreatePayload(g));
    session.ready = true;
    if (!this.everReady) {
      this.everReady = true;
      for (const resolve of this.readyWaiters.splice(0)) resolve();
    }
    this.flushPending(session);
  }

  private onResume(socket: WebSocket, conn: { session: Session | null }, d: Record<string, unknown>): void {
    if (!this.tokenMatches(d.token)) {
      this.violations.push('gateway: RESUME with a wrong token');
      socket.close(4004, 'Authentication failed.');
      return;
    }
    const session = this.sessions.find((s) => s.id === d.session_id);
    if (!session) {
      this.send(socket, { op: 9, d: false, s: null, t: null });
      return;
    }
    if (session.socket && session.socket !== socket && session.socket.readyState === WebSocket.OPEN)
      session.socket.close(4000, 'Session resumed elsewhere');
    session.socket = socket;
    conn.session = session;
    this.resumeCount++;
    const from = typeof d.seq === 'number' ? d.seq : 0;
    for (const entry of session.log) {
      if (entry.s > from) this.send(socket, { op: 0, s: entry.s, t: entry.t, d: entry.d });
    }
    this.sendDispatch(session, 'RESUMED', { _trace: ['loopback'] });
    session.ready = true;
    this.flushPending(session);
  }

  private sendDispatch(session: Session, t: string, d: unknown): number {
    const s = ++session.seq;
    session.log.push({ s, t, d });
    const seq = this.recordDispatch(t, d);
    if (session.socket) this.send(session.socket, { op: 0, s, t, d });
    return seq;
  }

  private liveSession(shardId: number): Session | undefined {
    for (let i = this.sessions.length - 1; i >= 0; i--) {
      const s = this.sessions[i];
      if (s?.ready && s.shard[0] === shardId && s.socket?.readyState === WebSocket.OPEN) return s;
    }
    return undefined;
  }

  private deliver(t: string, d: unknown, shardId: number): Promise<number> {
    const session = this.liveSession(shardId);
    if (session) return Promise.resolve(this.sendDispatch(session, t, d));
    return new Promise((resolve) => this.pending.push({ t, d, shardId, resolve }));
  }

  private flushPending(session: Session): void {
    for (let i = 0; i < this.pending.length;) {
      const p = this.pending[i];
      if (p && p.shardId === session.shard[0]) {
        this.pending.splice(i, 1);
        p.resolve(this.sendDispatch(session, p.t, p.d));
      } else i++;
    }
  }

  /** The guildProfile's extra text channels of a guild: ids derived from the guild's, unknown to REST. */
  private profileChannels(g: GuildFixture): Record<string, unknown>[] {
    return Array.from({ length: this.guildProfile?.channels ?? 0 }, (_, i) => ({
      id: (BigInt(g.id) + 1_000n + BigInt(i)).toString(),
      type: 0,
      guild_id: g.id,
      name: `channel-${String(i)}`,
      position: i + 1,
      parent_id: null,
      topic: null,
      last_message_id: null,
      rate_limit_per_user: 0,
      flags: 0,
      nsfw: false,
      permission_overwrites: [
        { id: g.id, type: 0, allow: '0', deny: '2048' },
        { id: (BigInt(g.id) + 500n).toString(), type: 0, allow: '2048', deny: '0' },
      ],
    }));
  }

  private profileRoles(g: GuildFixture): Record<string, unknown>[] {
    return Array.from({ length: this.guildProfile?.roles ?? 0 }, (_, i) => ({
      id: (BigInt(g.id) + 500n + BigInt(i)).toString(),
      name: `role-${String(i)}`,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position: i + 1,
      permissions: '2048',
      managed: false,
      mentionable: false,
      flags: 0,
    }));
  }

  private guildCreatePayload(g: GuildFixture): Record<string, unknown> {
    const joinedAt = new Date(this.now()).toISOString();
    const channels = [...this.channels.values()].filter((c) => c.guildId === g.id);
    return {
      id: g.id,
      name: g.name,
      icon: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: this.userId,
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      nsfw_level: 0,
      premium_tier: g.premiumTier,
      premium_subscription_count: [0, 2, 7, 14][g.premiumTier] ?? 0,
      premium_progress_bar_enabled: false,
      preferred_locale: g.preferredLocale ?? 'en-US',
      features: [],
      roles: [
        {
          id: g.id,
          name: '@everyone',
          color: 0,
          colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
          hoist: false,
          icon: null,
          unicode_emoji: null,
          position: 0,
          permissions: DEFAULT_MEMBER_PERMISSIONS,
          managed: false,
          mentionable: false,
          flags: 0,
        },
        ...this.profileRoles(g),
      ],
      emojis: [],
      stickers: [],
      system_channel_id: g.channelId,
      system_channel_flags: 0,
      rules_channel_id: null,
      public_updates_channel_id: null,
      safety_alerts_channel_id: null,
      application_id: null,
      vanity_url_code: null,
      max_members: 500000,
      max_video_channel_users: 25,
      unavailable: false,
      large: false,
      lazy: true,
      member_count: 2,
      joined_at: joinedAt,
      members: [
        {
          user: this.botUser,
          roles: [],
          joined_at: joinedAt,
          premium_since: null,
          deaf: false,
          mute: false,
          flags: 0,
          pending: false,
          nick: null,
          avatar: null,
          communication_disabled_until: null,
        },
      ],
      channels: [...channels.filter((c) => c.type !== 11).map((c) => this.channelJson(c)), ...this.profileChannels(g)],
      threads: channels.filter((c) => c.type === 11).map((c) => this.channelJson(c)),
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  // -------------------------------------------------------------------------------------------
  // Interactions

  /** Get Current Application: the owner a user, or (with a team) the team with its members. */
  private applicationJson(): Record<string, unknown> {
    const base = {
      id: this.applicationId,
      name: 'Veo Bot',
      icon: null,
      description: '',
      bot_public: true,
      bot_require_code_grant: false,
      verify_key: 'a'.repeat(64),
      flags: 0,
      bot: this.botUser,
    };
    if (!this.applicationTeam) return { ...base, owner: this.userFor(this.applicationOwnerIds[0]), team: null };
    const teamId = snowflake();
    return {
      ...base,
      owner: { id: teamId, username: `team${teamId}`, discriminator: '0000', avatar: null, flags: 1024 },
      team: {
        id: teamId,
        icon: null,
        name: 'Loopback Team',
        owner_user_id: this.applicationOwnerIds[0],
        members: this.applicationOwnerIds.map((id) => ({
          membership_state: 2,
          team_id: teamId,
          user: this.userFor(id),
          role: 'admin',
        })),
      },
    };
  }

  private userFor(userId: string | undefined): DiscordUser {
    const id = userId ?? this.userId;
    let user = this.users.get(id);
    if (!user) {
      user = {
        id,
        username: `user${id.slice(-4)}`,
        discriminator: '0',
        global_name: `User ${id.slice(-4)}`,
        avatar: null,
      };
      this.users.set(id, user);
    }
    return user;
  }

  private dmChannelFor(user: DiscordUser): ChannelState {
    const existing = this.dmChannels.get(user.id);
    const found = existing !== undefined ? this.channels.get(existing) : undefined;
    if (found) return found;
    const channel: ChannelState = {
      id: snowflake(),
      type: 1,
      guildId: null,
      name: '',
      parentId: null,
      recipient: user,
      botPermissions: null,
    };
    this.channels.set(channel.id, channel);
    this.dmChannels.set(user.id, channel.id);
    return channel;
  }

  private guildById(id: string): GuildFixture {
    const g = this.guilds.find((x) => x.id === id);
    if (!g) throw new Error(`unknown guild ${id}`);
    return g;
  }

  private interactionContext(
    guildIdIn: string | null | undefined,
    channelIdIn: string | undefined,
    userId: string | undefined,
  ): {
    guild: GuildFixture | null;
    guildId: string | null;
    channelId: string;
    channel: ChannelState;
    user: DiscordUser;
  } {
    const user = this.userFor(userId);
    const guild = guildIdIn === null ? null : this.guildById(guildIdIn ?? this.guild.id);
    let channel: ChannelState;
    if (channelIdIn !== undefined) {
      const c = this.channels.get(channelIdIn);
      if (!c) throw new Error(`unknown channel ${channelIdIn}`);
      channel = c;
    } else if (guild) {
      const c = this.channels.get(guild.channelId);
      if (!c) throw new Error(`guild ${guild.id} has no channel`);
      channel = c;
    } else {
      channel = this.dmChannelFor(user);
    }
    return { guild, guildId: guild?.id ?? null, channelId: channel.id, channel, user };
  }

  private async dispatchInteraction(
    kind: 2 | 3 | 5,
    ctx: {
      guild: GuildFixture | null;
      guildId: string | null;
      channelId: string;
      channel: ChannelState;
      user: DiscordUser;
    },
    input: { locale?: string; memberPermissions?: string; attachmentSizeLimit?: number },
    data: Record<string, unknown>,
    message: StoredMessage | null,
    commandName: string | null,
  ): Promise<InteractionHandle> {
    const id = snowflake();
    const token = `aW50ZXJhY3Rpb246${id}:${randomToken(96)}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const attachmentSizeLimit = input.attachmentSizeLimit ?? discordUploadLimit(ctx.guild?.premiumTier ?? 0);
    const appPermissions = String(this.botPermissionsIn(ctx.channelId) ?? DEFAULT_BOT_PERMISSIONS);
    const joinedAt = new Date(this.now() - 86_400_000).toISOString();
    const owners: Record<string, string> = ctx.guildId !== null ? { '0': ctx.guildId } : { '0': '0' };
    const metadata: Record<string, unknown> = {
      id,
      type: kind,
      user: ctx.user,
      authorizing_integration_owners: owners,
    };
    if (kind === 2) {
      metadata.name = commandName;
      metadata.command_type = 1;
    }
    if (message) {
      metadata.interacted_message_id = message.id;
    }
    const payload: Record<string, unknown> = {
      id,
      application_id: this.applicationId,
      type: kind,
      token,
      version: 1,
      channel_id: ctx.channelId,
      channel: { ...this.channelJson(ctx.channel), permissions: appPermissions },
      app_permissions: appPermissions,
      locale: input.locale ?? 'en-US',
      entitlements: [],
      entitlement_sku_ids: [],
      authorizing_integration_owners: owners,
      context: ctx.guildId !== null ? 0 : 1,
      attachment_size_limit: attachmentSizeLimit,
      data,
    };
    if (ctx.guild) {
      payload.guild_id = ctx.guild.id;
      payload.guild = { id: ctx.guild.id, locale: ctx.guild.preferredLocale ?? 'en-US', features: [] };
      payload.guild_locale = ctx.guild.preferredLocale ?? 'en-US';
      payload.member = {
        user: ctx.user,
        roles: [],
        permissions: input.memberPermissions ?? DEFAULT_MEMBER_PERMISSIONS,
        joined_at: joinedAt,
        premium_since: null,
        deaf: false,
        mute: false,
        flags: 0,
        pending: false,
        nick: null,
        avatar: null,
        banner: null,
        communication_disabled_until: null,
        unusual_dm_activity_until: null,
      };
    } else {
      payload.user = ctx.user;
    }
    if (message) payload.message = this.messageJson(message);

    const state: InteractionState = {
      id,
      token,
      kind,
      createdAt: this.now(),
      dispatchedAt: null,
      expired: false,
      guildId: ctx.guildId,
      channelId: ctx.channelId,
      user: ctx.user,
      attachmentSizeLimit,
      commandName,
      ack: null,
      originalMessageId: message?.id ?? null,
      deferPending: false,
      deferEphemeral: false,
      messageIds: new Set(message ? [message.id] : []),
      metadata,
    };
    this.interactionsById.set(id, state);
    this.interactionsByToken.set(token, state);
    const seq = await this.deliver('INTERACTION_CREATE', payload, shardOf(ctx.guildId, this.shardCount));
    state.dispatchedAt = this.now();
    return { interactionId: id, token, seq };
  }

  // -------------------------------------------------------------------------------------------
  // JSON shapes

  private channelJson(c: ChannelState): Record<string, unknown> {
    const last =
      [...this.messages.values()].filter((m) => m.channel_id === c.id && !m.ephemeral && !m.deleted).at(-1)?.id ?? null;
    if (c.type === 1) {
      return { id: c.id, type: 1, last_message_id: last, flags: 0, recipients: c.recipient ? [c.recipient] : [] };
    }
    const base: Record<string, unknown> = {
      id: c.id,
      type: c.type,
      guild_id: c.guildId,
      name: c.name,
      parent_id: c.parentId,
      last_message_id: last,
      rate_limit_per_user: 0,
      flags: 0,
      nsfw: false,
    };
    if (c.type === 11) {
      return {
        ...base,
        owner_id: this.botUserId,
        member_count: 1,
        message_count: 0,
        total_message_sent: 0,
        thread_metadata: {
          archived: false,
          auto_archive_duration: 1440,
          archive_timestamp: new Date(this.now()).toISOString(),
          locked: false,
          create_timestamp: new Date(this.now()).toISOString(),
        },
      };
    }
    return { ...base, position: 0, permission_overwrites: [], topic: null };
  }

  private messageJson(m: StoredMessage): Record<string, unknown> {
    const json: Record<string, unknown> = {
      id: m.id,
      type: m.type,
      channel_id: m.channel_id,
      author: m.author,
      content: m.content,
      timestamp: m.timestamp,
      edited_timestamp: m.edited_timestamp,
      tts: m.tts,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      mention_channels: [],
      attachments: m.attachments.map(attachmentJson),
      embeds: m.embeds,
      components: m.components,
      flags: m.flags,
      pinned: false,
      reactions: [],
    };
    if (m.guild_id !== undefined) json.guild_id = m.guild_id;
    if (m.nonce !== undefined) json.nonce = m.nonce;
    if (m.webhook_id !== undefined) json.webhook_id = m.webhook_id;
    if (m.application_id !== undefined) json.application_id = m.application_id;
    if (m.interaction_metadata !== undefined) json.interaction_metadata = m.interaction_metadata;
    if (m.message_reference !== undefined) json.message_reference = m.message_reference;
    return json;
  }

  // -------------------------------------------------------------------------------------------
  // Message store

  private buildAttachments(
    channelId: string,
    payload: Record<string, unknown>,
    files: RecordedFile[],
    keep: StoredAttachment[],
  ): StoredAttachment[] {
    const meta = asArray(payload.attachments).filter(isRecord);
    const result: StoredAttachment[] = [];
    if (Array.isArray(payload.attachments)) {
      for (const entry of meta) {
        const existing = keep.find((a) => a.id === String(entry.id));
        if (existing)
          result.push(
            typeof entry.description === 'string' ? { ...existing, description: entry.description } : existing,
          );
      }
    } else {
      result.push(...keep);
    }
    files.forEach((file, position) => {
      const index = /^files\[(\d+)\]$/.exec(file.field)?.[1] ?? String(position);
      const entry = meta.find((e) => String(e.id) === index);
      const filename = typeof entry?.filename === 'string' ? entry.filename : file.fileName;
      const id = snowflake();
      const url = `${this.apiBase.replace(/\/api$/, '')}/attachments/${channelId}/${id}/${encodeURIComponent(filename)}`;
      const attachment: StoredAttachment = {
        id,
        filename,
        size: file.size,
        content_type: file.contentType,
        url,
        proxy_url: url,
        bytes: file.bytes,
      };
      if (typeof entry?.description === 'string') attachment.description = entry.description;
      result.push(attachment);
    });
    return result;
  }

  private storeMessage(args: {
    id?: string;
    channelId: string;
    payload: Record<string, unknown>;
    files: RecordedFile[];
    flags: number;
    type: number;
    interaction: InteractionState | null;
    followUp?: boolean;
  }): StoredMessage {
    const channel = this.channels.get(args.channelId);
    const id = args.id ?? snowflake();
    const p = args.payload;
    const nonce = typeof p.nonce === 'string' || typeof p.nonce === 'number' ? p.nonce : undefined;
    const message: StoredMessage = {
      id,
      type: args.type,
      channel_id: args.channelId,
      guild_id: channel?.guildId ?? undefined,
      author: this.botUser,
      content: typeof p.content === 'string' ? p.content : '',
      embeds: normaliseEmbeds(p.embeds),
      components: numberComponents(p.components),
      attachments: this.buildAttachments(args.channelId, p, args.files, []),
      flags: args.flags,
      tts: p.tts === true,
      nonce,
      timestamp: new Date(this.now()).toISOString(),
      edited_timestamp: null,
      webhook_id: args.interaction ? this.applicationId : undefined,
      application_id: args.interaction ? this.applicationId : undefined,
      interaction_metadata: args.interaction ? { ...args.interaction.metadata } : undefined,
      message_reference: p.message_reference ?? undefined,
      interactionId: args.interaction?.id,
      ephemeral: (args.flags & EPHEMERAL) !== 0,
      deleted: false,
      editCount: 0,
    };
    if (message.interaction_metadata && args.followUp && args.interaction?.originalMessageId != null) {
      message.interaction_metadata.original_response_message_id = args.interaction.originalMessageId;
    }
    this.messages.set(id, message);
    args.interaction?.messageIds.add(id);
    return message;
  }

  private applyEdit(message: StoredMessage, payload: Record<string, unknown>, files: RecordedFile[]): void {
    if ('content' in payload) message.content = typeof payload.content === 'string' ? payload.content : '';
    if ('embeds' in payload) message.embeds = normaliseEmbeds(payload.embeds);
    if ('components' in payload) message.components = numberComponents(payload.components);
    if ('attachments' in payload || files.length > 0) {
      message.attachments = this.buildAttachments(message.channel_id, payload, files, message.attachments);
    }
    if (typeof payload.flags === 'number') {
      // Only SUPPRESS_EMBEDS and IS_COMPONENTS_V2 change on edit; ephemerality never does.
      const editable = 4 | 32768;
      message.flags = (message.flags & ~editable) | (payload.flags & editable);
    }
    message.edited_timestamp = new Date(this.now()).toISOString();
    message.editCount++;
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  private async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seq = this.nextSeq++;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const raw = await readBody(req);
    const at = performance.now();

    if (method === 'GET' && url.pathname.startsWith('/attachments/')) {
      this.serveAttachment(url.pathname, res);
      return;
    }

    // @discordjs/rest percent-encodes segments such as `@original`; Discord routes on the decoded path.
    const pathname = safeDecode(url.pathname);
    const path = pathname.startsWith(`${API_PREFIX}/`) ? pathname.slice(API_PREFIX.length) : pathname;
    const authorization = typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined;
    const parsed = await parseBody(raw, req.headers['content-type'], url.toString(), method);
    const rec: RecordedRequest = {
      seq,
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      authorization,
      body: parsed.body,
      files: parsed.files,
      operation: null,
      violations: [],
      status: 0,
      at,
    };
    const match = pathname.startsWith(`${API_PREFIX}/`) ? matchRoute(method, path) : null;
    const answer = this.answer(rec, match, parsed.error);
    rec.status = answer.status;
    const holdIndex = this.holds.findIndex((h) => h.predicate(rec));
    const hold = this.holds[holdIndex];
    if (hold && --hold.remaining <= 0) this.holds.splice(holdIndex, 1);
    this.record(rec, match?.template ?? null);

    const respond = (): void => {
      if (res.destroyed) return;
      const headers: Record<string, string> = { ...answer.headers };
      if (answer.json !== undefined && answer.status !== 204) {
        headers['content-type'] = 'application/json';
        res.writeHead(answer.status, headers);
        res.end(JSON.stringify(answer.json));
      } else {
        res.writeHead(answer.status, headers);
        res.end();
      }
    };
    if (hold) this.heldResponses.push(respond);
    else respond();
  }

  private serveAttachment(pathname: string, res: ServerResponse): void {
    const id = pathname.split('/')[3];
    for (const m of this.messages.values()) {
      const a = m.attachments.find((x) => x.id === id);
      if (a) {
        res.writeHead(200, { 'content-type': a.content_type, 'content-length': String(a.size) });
        res.end(a.bytes);
        return;
      }
    }
    res.writeHead(404);
    res.end();
  }

  private answer(rec: RecordedRequest, match: ReturnType<typeof matchRoute>, parseError: string | null): Answer {
    if (!match) {
      rec.violations.push(`unmatched route ${rec.method} ${rec.path}`);
      return fail(404, 0, '404: Not Found');
    }
    rec.operation = match.operation;
    const p = match.params;
    const tokenAuth = match.template.startsWith('/interactions/') || match.template.startsWith('/webhooks/');

    // Authentication first, as Discord does.
    if (rec.authorization !== undefined || !tokenAuth) {
      const auth = rec.authorization ?? '';
      if (!auth.startsWith('Bot ') || auth.slice(4) !== this.botToken) {
        rec.violations.push(
          rec.authorization === undefined
            ? 'missing Authorization on a bot route'
            : 'Authorization is not "Bot <the bot token>"',
        );
        return fail(401, 0, '401: Unauthorized');
      }
    }

    if (parseError !== null) {
      rec.violations.push(parseError);
      return fail(400, 50109, 'The request body contains invalid JSON.');
    }

    const validation = validateDiscordRequest(rec.method, rec.path, rec.body);
    rec.violations.push(...validation.violations);

    const fault = this.takeFault(rec);
    if (fault) return faultAnswer(fault);

    if (validation.rejected) {
      return {
        status: 400,
        json: {
          code: 50035,
          message: 'Invalid Form Body',
          errors: { _errors: validation.violations.map((m) => ({ code: 'BASE_TYPE_INVALID', message: m })) },
        },
      };
    }
    const body = isRecord(rec.body) ? rec.body : {};

    switch (match.operation) {
      case 'getGateway':
        return ok({ url: this.gatewayUrl });
      case 'getBotGateway':
        return ok({
          url: this.gatewayUrl,
          shards: this.shardCount,
          session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: this.maxConcurrency },
        });
      case 'getMyUser':
        return ok({
          ...this.botUser,
          verified: true,
          mfa_enabled: true,
          flags: 0,
          email: null,
          locale: 'en-US',
          premium_type: 0,
        });
      case 'getMyApplication':
        return ok(this.applicationJson());
      case 'createDm': {
        const recipient = typeof body.recipient_id === 'string' ? body.recipient_id : undefined;
        if (recipient === undefined) return fail(400, 50035, 'Invalid Form Body');
        return ok(this.channelJson(this.dmChannelFor(this.userFor(recipient))));
      }
      case 'listApplicationCommands':
      case 'bulkSetApplicationCommands':
      case 'createApplicationCommand':
      case 'listGuildApplicationCommands':
      case 'bulkSetGuildApplicationCommands':
      case 'createGuildApplicationCommand':
        return this.commands(rec, match.operation, p);
      case 'createInteractionResponse':
        return this.interactionCallback(rec, p, body);
      case 'getOriginalWebhookMessage':
      case 'updateOriginalWebhookMessage':
      case 'deleteOriginalWebhookMessage':
      case 'getWebhookMessage':
      case 'updateWebhookMessage':
      case 'deleteWebhookMessage':
      case 'executeWebhook':
        return this.webhook(rec, match.operation, p, body);
      case 'getChannel': {
        const channel = this.channels.get(p.channel_id ?? '');
        if (!channel) return fail(404, 10003, 'Unknown Channel');
        const perms = this.botPermissionsIn(channel.id);
        if (perms !== null && (perms & P.ViewChannel) === 0n) return fail(403, 50001, 'Missing Access');
        return ok(this.channelJson(channel));
      }
      case 'listMessages':
      case 'createMessage':
      case 'getMessage':
      case 'updateMessage':
      case 'deleteMessage':
        return this.channelMessagesRoute(rec, match.operation, p, body);
      default:
        rec.violations.push(`operation ${match.operation} is matched but not served by the loopback`);
        return fail(404, 0, '404: Not Found');
    }
  }

  private takeFault(rec: RecordedRequest): FaultAnswer | null {
    const index = this.faults.findIndex(
      (f) =>
        (f.method === undefined || f.method === rec.method) &&
        (f.pathIncludes === undefined ||
          (typeof f.pathIncludes === 'string' ? rec.path.includes(f.pathIncludes) : f.pathIncludes.test(rec.path))),
    );
    const fault = this.faults[index];
    if (!fault) return null;
    fault.remaining--;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return fault.answer;
  }

  // -- commands --------------------------------------------------------------------------------

  private commands(rec: RecordedRequest, operation: string, p: Record<string, string>): Answer {
    if (p.application_id !== this.applicationId) {
      rec.violations.push(`application id ${p.application_id ?? ''} is not the bot's (${this.applicationId})`);
      return fail(403, 50001, 'Missing Access');
    }
    const guildId = p.guild_id;
    let store = this.globalCommands;
    if (guildId !== undefined) {
      if (!this.guilds.some((g) => g.id === guildId)) return fail(403, 50001, 'Missing Access');
      let guildStore = this.guildCommands.get(guildId);
      if (!guildStore) {
        guildStore = new Map();
        this.guildCommands.set(guildId, guildStore);
      }
      store = guildStore;
    }
    const echo = (input: Record<string, unknown>, existing: StoredCommand | undefined): StoredCommand => {
      const id = existing?.id ?? snowflake();
      const perms = input.default_member_permissions;
      const data: Record<string, unknown> = {
        id,
        application_id: this.applicationId,
        version: snowflake(),
        type: typeof input.type === 'number' ? input.type : 1,
        name: input.name,
        name_localizations: input.name_localizations ?? null,
        description: typeof input.description === 'string' ? input.description : '',
        description_localizations: input.description_localizations ?? null,
        default_member_permissions: typeof perms === 'number' || typeof perms === 'string' ? String(perms) : null,
        dm_permission: guildId === undefined ? input.dm_permission !== false : undefined,
        contexts: input.contexts ?? null,
        integration_types: input.integration_types ?? [0],
        nsfw: input.nsfw === true,
      };
      if (Array.isArray(input.options) && input.options.length > 0) data.options = input.options;
      if (guildId !== undefined) data.guild_id = guildId;
      return { id, data: JSON.parse(JSON.stringify(data)) as Record<string, unknown> };
    };
    switch (operation) {
      case 'listApplicationCommands':
      case 'listGuildApplicationCommands':
        return ok([...store.values()].map((c) => c.data));
      case 'bulkSetApplicationCommands':
      case 'bulkSetGuildApplicationCommands': {
        const previous = new Map(store);
        store.clear();
        for (const input of asArray(rec.body).filter(isRecord)) {
          const name = String(input.name);
          store.set(name, echo(input, previous.get(name)));
        }
        return ok([...store.values()].map((c) => c.data));
      }
      default: {
        const input = isRecord(rec.body) ? rec.body : {};
        const name = String(input.name);
        const existing = store.get(name);
        const command = echo(input, existing);
        store.set(name, command);
        return ok(command.data, existing ? 200 : 201);
      }
    }
  }

  // -- interaction callbacks --------------------------------------------------------------------

  private interactionCallback(rec: RecordedRequest, p: Record<string, string>, body: Record<string, unknown>): Answer {
    const interaction = this.interactionsById.get(p.interaction_id ?? '');
    if (!interaction || interaction.token !== p.interaction_token) {
      rec.violations.push('callback for an unknown interaction id/token');
      return fail(404, 10062, 'Unknown interaction');
    }
    if (interaction.expired || this.now() - interaction.createdAt >= TOKEN_LIFETIME_MS) {
      return fail(404, 10062, 'Unknown interaction');
    }
    if (this.ackDeadlineMs !== false && interaction.ack === null && interaction.dispatchedAt !== null) {
      const elapsed = this.now() - interaction.dispatchedAt;
      if (elapsed > this.ackDeadlineMs) {
        rec.violations.push(
          `interaction acknowledged ${elapsed} ms after the dispatch (limit ${this.ackDeadlineMs} ms)`,
        );
        return fail(404, 10062, 'Unknown interaction');
      }
    }
    if (interaction.ack !== null) {
      rec.violations.push(`interaction ${interaction.id} acknowledged twice (first with type ${interaction.ack.type})`);
      return fail(400, 40060, 'Interaction has already been acknowledged.');
    }
    const type = typeof body.type === 'number' ? body.type : -1;
    const data = isRecord(body.data) ? body.data : {};
    const componentOnly = type === 6 || type === 7;
    // A modal submit may update the message it came from, but never answer with another modal.
    const fromComponent =
      interaction.kind === 3 || (interaction.kind === 5 && 'interacted_message_id' in interaction.metadata);
    if ((componentOnly && !fromComponent) || type === 1 || type === 8 || (type === 9 && interaction.kind === 5)) {
      rec.violations.push(`callback type ${type} is not valid for an interaction of type ${interaction.kind}`);
      return fail(400, 50035, 'Invalid Form Body');
    }
    const tooBig = this.checkUploads(rec, interaction.attachmentSizeLimit, 'the interaction attachment_size_limit');
    if (tooBig) return tooBig;

    let message: StoredMessage | undefined;
    switch (type) {
      case 4: {
        const empty = emptyMessage(data, rec.files);
        if (empty) {
          rec.violations.push('reply with no content, embeds, components, files or poll');
          return empty;
        }
        const flags = (typeof data.flags === 'number' ? data.flags : 0) & SETTABLE_FLAGS;
        message = this.storeMessage({
          channelId: interaction.channelId,
          payload: data,
          files: rec.files,
          flags,
          type: interaction.kind === 2 ? 20 : 19,
          interaction,
        });
        interaction.originalMessageId = message.id;
        break;
      }
      case 5: {
        const ephemeral = typeof data.flags === 'number' && (data.flags & EPHEMERAL) !== 0;
        message = this.storeMessage({
          channelId: interaction.channelId,
          payload: {},
          files: [],
          flags: LOADING | (ephemeral ? EPHEMERAL : 0),
          type: interaction.kind === 2 ? 20 : 19,
          interaction,
        });
        interaction.originalMessageId = message.id;
        interaction.deferPending = true;
        interaction.deferEphemeral = ephemeral;
        break;
      }
      case 6:
        break;
      case 7: {
        message = interaction.originalMessageId !== null ? this.messages.get(interaction.originalMessageId) : undefined;
        if (message) this.applyEdit(message, data, rec.files);
        break;
      }
      default:
        break; // 9 (modal), 12 (activity): nothing to store
    }
    interaction.ack = { type };

    if (rec.query.with_response !== 'true') return noContent();
    const response: Record<string, unknown> = {
      interaction: {
        id: interaction.id,
        type: interaction.kind,
        ...(message
          ? {
              response_message_id: message.id,
              response_message_loading: (message.flags & LOADING) !== 0,
              response_message_ephemeral: message.ephemeral,
            }
          : {}),
      },
    };
    if (message && (type === 4 || type === 5 || type === 7))
      response.resource = { type, message: this.messageJson(message) };
    return ok(response);
  }

  private checkUploads(rec: RecordedRequest, limit: number, what: string): Answer | null {
    const over = rec.files.filter((f) => f.size > limit);
    if (over.length === 0) return null;
    for (const f of over) rec.violations.push(`file ${f.fileName} is ${f.size} bytes, over ${what} (${limit} bytes)`);
    return fail(413, 40005, 'Request entity too large');
  }

  // -- webhooks ----------------------------------------------------------------------------------

  private webhook(
    rec: RecordedRequest,
    operation: string,
    p: Record<string, string>,
    body: Record<string, unknown>,
  ): Answer {
    if (p.webhook_id !== this.applicationId) {
      rec.violations.push(`webhook id ${p.webhook_id ?? ''} is not the application id (${this.applicationId})`);
      return fail(404, 10015, 'Unknown Webhook');
    }
    const interaction = this.interactionsByToken.get(p.webhook_token ?? '');
    if (!interaction || interaction.expired || this.now() - interaction.createdAt >= TOKEN_LIFETIME_MS) {
      return fail(401, 50027, 'Invalid Webhook Token');
    }
    if (interaction.ack === null) {
      rec.violations.push('webhook call before the interaction was acknowledged');
      return fail(404, 10015, 'Unknown Webhook');
    }

    if (operation === 'executeWebhook') {
      const tooBig = this.checkUploads(rec, interaction.attachmentSizeLimit, 'the interaction attachment_size_limit');
      if (tooBig) return tooBig;
      const empty = emptyMessage(body, rec.files);
      if (empty) {
        rec.violations.push('follow-up with no content, embeds, components, files or poll');
        return empty;
      }
      let message: StoredMessage;
      const deferred =
        interaction.deferPending && interaction.originalMessageId !== null
          ? this.messages.get(interaction.originalMessageId)
          : undefined;
      if (deferred) {
        // The first follow-up after a defer fills in the deferred reply.
        this.applyEdit(deferred, body, rec.files);
        deferred.flags &= ~LOADING;
        interaction.deferPending = false;
        message = deferred;
      } else {
        const flags = (typeof body.flags === 'number' ? body.flags : 0) & SETTABLE_FLAGS;
        message = this.storeMessage({
          channelId: interaction.channelId,
          payload: body,
          files: rec.files,
          flags,
          type: 19,
          interaction,
          followUp: true,
        });
      }
      return rec.query.wait === 'true' ? ok(this.messageJson(message)) : noContent();
    }

    const original = operation.includes('Original');
    const messageId = original ? interaction.originalMessageId : (p.message_id ?? null);
    const message = messageId !== null ? this.messages.get(messageId) : undefined;
    if (!message || message.deleted || (!original && !interaction.messageIds.has(message.id))) {
      rec.violations.push(
        original
          ? '@original has no message (nothing to resolve it to)'
          : `message ${messageId ?? ''} does not belong to this interaction`,
      );
      return fail(404, 10008, 'Unknown Message');
    }

    switch (operation) {
      case 'getOriginalWebhookMessage':
      case 'getWebhookMessage':
        return ok(this.messageJson(message));
      case 'deleteOriginalWebhookMessage':
      case 'deleteWebhookMessage':
        message.deleted = true;
        return noContent();
      default: {
        const tooBig = this.checkUploads(rec, interaction.attachmentSizeLimit, 'the interaction attachment_size_limit');
        if (tooBig) return tooBig;
        const emptied = this.emptiedByEdit(message, body, rec.files);
        if (emptied) {
          rec.violations.push('edit leaves the message with no content, embeds, components, files or poll');
          return emptied;
        }
        if (original && interaction.deferPending && typeof body.flags === 'number') {
          if ((body.flags & ~EPHEMERAL) !== 0)
            rec.violations.push(`edit after a defer sets flags ${body.flags}: only EPHEMERAL (64) is allowed`);
          if ((body.flags & EPHEMERAL) !== 0 && !interaction.deferEphemeral) {
            rec.violations.push('edit after a non-ephemeral defer sets EPHEMERAL: ephemerality is fixed at the defer');
          }
        }
        this.applyEdit(message, body, rec.files);
        if (original) {
          message.flags &= ~LOADING;
          interaction.deferPending = false;
        }
        return ok(this.messageJson(message));
      }
    }
  }

  // -- channel messages --------------------------------------------------------------------------

  private channelMessagesRoute(
    rec: RecordedRequest,
    operation: string,
    p: Record<string, string>,
    bodyIn: Record<string, unknown>,
  ): Answer {
    const channel = this.channels.get(p.channel_id ?? '');
    if (!channel) return fail(404, 10003, 'Unknown Channel');
    const perms = this.botPermissionsIn(channel.id);
    const has = (bit: bigint): boolean => perms === null || (perms & bit) === bit;
    if (!has(P.ViewChannel)) return fail(403, 50001, 'Missing Access');
    const tier = channel.guildId !== null ? (this.guilds.find((g) => g.id === channel.guildId)?.premiumTier ?? 0) : 0;
    const limit = discordUploadLimit(tier);
    // Discord drops the embeds of a bot without Embed Links instead of refusing the request.
    const body = has(P.EmbedLinks) || !('embeds' in bodyIn) ? bodyIn : { ...bodyIn, embeds: [] };
    const missingPermissions = (): Answer => fail(403, 50013, 'Missing Permissions');

    if (operation === 'listMessages') {
      // Without Read Message History Discord answers the list with no messages rather than an error.
      if (!has(P.ReadMessageHistory)) return ok([]);
      const max = Math.min(100, Math.max(1, Number(rec.query.limit ?? 50) || 50));
      let list = [...this.messages.values()].filter((m) => m.channel_id === channel.id && !m.deleted && !m.ephemeral);
      const before = rec.query.before;
      const after = rec.query.after;
      if (before !== undefined) list = list.filter((m) => BigInt(m.id) < BigInt(before));
      if (after !== undefined) list = list.filter((m) => BigInt(m.id) > BigInt(after));
      list.sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
      return ok(list.slice(0, max).map((m) => this.messageJson(m)));
    }

    if (operation === 'createMessage') {
      if (!has(channel.type === 11 ? P.SendMessagesInThreads : P.SendMessages)) return missingPermissions();
      if (rec.files.length > 0 && !has(P.AttachFiles)) return missingPermissions();
      if (isRecord(body.message_reference) && !has(P.ReadMessageHistory)) return missingPermissions();
      const tooBig = this.checkUploads(rec, limit, `the upload limit for premium tier ${tier}`);
      if (tooBig) return tooBig;
      const nonce = typeof body.nonce === 'string' || typeof body.nonce === 'number' ? String(body.nonce) : undefined;
      if (nonce !== undefined && body.enforce_nonce === true) {
        const seen = this.nonces.get(`${channel.id}:${nonce}`);
        const existing = seen ? this.messages.get(seen.messageId) : undefined;
        if (seen && existing && this.now() - seen.at < NONCE_WINDOW_MS) return ok(this.messageJson(existing));
      }
      const empty = emptyMessage(body, rec.files);
      if (empty) {
        rec.violations.push(
          has(P.EmbedLinks)
            ? 'message with no content, embeds, components, files, stickers or poll'
            : 'message left empty once Discord dropped its embeds (no Embed Links)',
        );
        return empty;
      }
      const requested = typeof body.flags === 'number' ? body.flags : 0;
      if ((requested & EPHEMERAL) !== 0)
        rec.violations.push('EPHEMERAL flag on a channel message (only interaction responses can be ephemeral)');
      const message = this.storeMessage({
        channelId: channel.id,
        payload: body,
        files: rec.files,
        flags: requested & (SETTABLE_FLAGS & ~EPHEMERAL),
        type: isRecord(body.message_reference) ? 19 : 0,
        interaction: null,
      });
      if (nonce !== undefined && body.enforce_nonce === true)
        this.nonces.set(`${channel.id}:${nonce}`, { messageId: message.id, at: this.now() });
      return ok(this.messageJson(message));
    }

    if (operation === 'getMessage' && !has(P.ReadMessageHistory)) return fail(403, 50001, 'Missing Access');
    const message = this.messages.get(p.message_id ?? '');
    if (!message || message.channel_id !== channel.id || message.deleted || message.ephemeral)
      return fail(404, 10008, 'Unknown Message');
    switch (operation) {
      case 'getMessage':
        return ok(this.messageJson(message));
      case 'deleteMessage':
        message.deleted = true;
        return noContent();
      default: {
        if (message.author.id !== this.botUserId) {
          rec.violations.push('editing a message the bot did not author');
          return fail(403, 50005, 'Cannot edit a message authored by another user');
        }
        if (rec.files.length > 0 && !has(P.AttachFiles)) return missingPermissions();
        const tooBig = this.checkUploads(rec, limit, `the upload limit for premium tier ${tier}`);
        if (tooBig) return tooBig;
        const emptied = this.emptiedByEdit(message, body, rec.files);
        if (emptied) {
          rec.violations.push('edit leaves the message with no content, embeds, components, files or poll');
          return emptied;
        }
        this.applyEdit(message, body, rec.files);
        return ok(this.messageJson(message));
      }
    }
  }

  /** Discord refuses an edit that would leave nothing to show (50006), as it refuses an empty post. */
  private emptiedByEdit(message: StoredMessage, body: Record<string, unknown>, files: RecordedFile[]): Answer | null {
    const after = {
      content: 'content' in body ? body.content : message.content,
      embeds: 'embeds' in body ? body.embeds : message.embeds,
      components: 'components' in body ? body.components : message.components,
    };
    const keptAttachments = Array.isArray(body.attachments) ? body.attachments.length : message.attachments.length;
    if (keptAttachments > 0) return null;
    return emptyMessage(after, files);
  }
}

// ---------------------------------------------------------------------------------------------
// Module helpers

function faultAnswer(answer: FaultAnswer): Answer {
  const json: Record<string, unknown> = { code: answer.code, message: answer.message };
  const headers: Record<string, string> = {};
  if (answer.retryAfter !== undefined) {
    json.retry_after = answer.retryAfter;
    headers['retry-after'] = String(answer.retryAfter);
    if (answer.status === 429) {
      json.global = false;
      headers['x-ratelimit-scope'] = 'user';
      headers['x-ratelimit-limit'] = '5';
      headers['x-ratelimit-remaining'] = '0';
      headers['x-ratelimit-reset-after'] = String(answer.retryAfter);
      headers['x-ratelimit-bucket'] = 'loopback';
    }
  }
  return { status: answer.status, json, headers };
}

function attachmentJson(a: StoredAttachment): Record<string, unknown> {
  const json: Record<string, unknown> = { ...a };
  delete json.bytes;
  return json;
}

function emptyMessage(payload: Record<string, unknown>, files: RecordedFile[]): Answer | null {
  const hasContent = typeof payload.content === 'string' && payload.content.length > 0;
  const has = (key: string): boolean => Array.isArray(payload[key]) && (payload[key] as unknown[]).length > 0;
  if (
    hasContent ||
    has('embeds') ||
    has('components') ||
    has('sticker_ids') ||
    files.length > 0 ||
    isRecord(payload.poll)
  )
    return null;
  return fail(400, 50006, 'Cannot send an empty message');
}

function normaliseEmbeds(value: unknown): unknown[] {
  return asArray(value).map((e) => (isRecord(e) ? { type: 'rich', ...e } : e));
}

/** Discord gives every component a numeric id; keep the bot's ids, number the rest. */
function numberComponents(value: unknown): unknown[] {
  let next = 0;
  const used = new Set<number>();
  const collect = (c: unknown): void => {
    if (!isRecord(c)) return;
    if (typeof c.id === 'number') used.add(c.id);
    asArray(c.components).forEach(collect);
    collect(c.accessory);
    collect(c.component);
  };
  const visit = (c: unknown): unknown => {
    if (!isRecord(c)) return c;
    const out: Record<string, unknown> = { ...c };
    if (typeof out.id !== 'number') {
      do next++;
      while (used.has(next));
      out.id = next;
    }
    if (Array.isArray(out.components)) out.components = (out.components as unknown[]).map(visit);
    if (isRecord(out.accessory)) out.accessory = visit(out.accessory);
    if (isRecord(out.component)) out.component = visit(out.component);
    return out;
  };
  const list = asArray(value);
  list.forEach(collect);
  return list.map(visit);
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

async function parseBody(
  raw: Buffer,
  contentType: string | undefined,
  url: string,
  method: string,
): Promise<ParsedBody> {
  if (raw.length === 0) return { body: undefined, files: [], error: null };
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('application/json')) {
    try {
      return { body: JSON.parse(raw.toString('utf8')) as unknown, files: [], error: null };
    } catch {
      return { body: raw.toString('utf8'), files: [], error: 'body is not valid JSON' };
    }
  }
  if (type.startsWith('multipart/form-data')) {
    const request = new Request(url, {
      method,
      headers: { 'content-type': contentType ?? '' },
      body: raw,
      duplex: 'half',
    });
    // Deprecated for production servers (memory use); fine for test-sized bodies and needs no extra package.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    const form = await request.formData();
    const files: RecordedFile[] = [];
    let body: unknown;
    let error: string | null = null;
    for (const [field, value] of form) {
      if (typeof value === 'string') {
        if (field === 'payload_json') {
          try {
            body = JSON.parse(value) as unknown;
          } catch {
            error = 'payload_json is not valid JSON';
          }
        }
        continue;
      }
      const bytes = Buffer.from(await value.arrayBuffer());
      files.push({ field, fileName: value.name, contentType: value.type, size: bytes.length, bytes });
    }
    return { body, files, error };
  }
  return { body: raw.toString('utf8'), files: [], error: `unsupported content-type ${contentType ?? '(none)'}` };
}
