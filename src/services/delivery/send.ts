import { ButtonStyle, RESTJSONErrorCodes, userMention, type APIButtonComponent, type APIMessage } from 'discord.js';
import type { Clock } from '../../lib/clock.js';
import type { LogFields, Logger } from '../../logger.js';
import { DEFAULT_UPLOAD_LIMIT, TOKEN_LIFETIME_MS } from './limits.js';
import {
  discordCode,
  isDeadTokenError,
  isTooLargeError,
  isTransientDiscordError,
  type DiscordRestApi,
  type MessageView,
  type OutgoingFile,
} from './rest.js';

/** Where one message goes: a job's message, or a 1080P click's reply. */
export interface SendTarget {
  /** The interaction token, or null once it is gone. */
  readonly token: string | null;
  readonly tokenIssuedAt: number;
  /** Persisted after the token was refused: it is never used again. */
  readonly tokenDead: boolean;
  /** The interaction's `attachment_size_limit`, for uploads through the token. */
  readonly tokenUploadLimit: number | null;
  readonly channelId: string;
  readonly guildId: string | null;
  /** The deferred reply the bot token may edit once the token cannot (never an ephemeral one). */
  readonly messageId: string | null;
  /** Ephemeral: the bot token cannot edit it, and a new post goes by DM, never into the channel. */
  readonly private: boolean;
  /** Whom a channel post mentions and a DM goes to. */
  readonly userId: string;
}

export interface MessageForm {
  readonly attached: boolean;
  /** The upload limit of the route the message takes, which a link form names. */
  readonly limitBytes: number;
}

export interface NewPost {
  readonly via: 'channel' | 'dm';
  readonly channelId: string;
}

export interface SendRequest {
  readonly target: SendTarget;
  readonly view: (form: MessageForm) => MessageView;
  /** The file the message carries, or null when it cannot be attached under this limit (link form). */
  readonly file?: (limitBytes: number) => Promise<OutgoingFile | null>;
  /** Status edits: when no message can be edited, nothing is posted. */
  readonly editOnly?: boolean;
  /** Persists that the token was refused, before the ladder goes on. */
  readonly onTokenDead: () => Promise<unknown>;
  /** Before a new post: the message an earlier attempt already posted, or the nonce of this one. */
  readonly beforePost?: (post: NewPost) => Promise<{ readonly found: string } | { readonly nonce: string }>;
  /** Sent once, plain, where every form was refused, so the member is told. */
  readonly refusedNotice?: MessageView;
  readonly logFields: LogFields;
}

export type SendOutcome =
  | { readonly kind: 'sent'; readonly via: 'token' | 'edit' | NewPost['via']; readonly messageId: string }
  /** Try again later (with backoff): a transient Discord or download failure. */
  | { readonly kind: 'transient'; readonly error: unknown }
  /** Trying again would not help: nowhere to send, or every form refused. */
  | { readonly kind: 'undeliverable'; readonly reason: string };

type Failure = 'transient' | 'dead_token' | 'message_gone' | 'no_access' | 'refused';
type Attempt =
  { readonly kind: 'sent'; readonly messageId: string } | { readonly kind: Failure; readonly error: unknown };

interface Route {
  readonly kind: 'token' | 'edit' | NewPost['via'];
  readonly limitBytes: number;
  /** `form` tells the forms apart, so each gets its own nonce. */
  send(view: MessageView, files: OutgoingFile[], form: string): Promise<APIMessage>;
}

/** Past these the bot token may not edit the message, or post there. */
const NO_ACCESS: ReadonlySet<number> = new Set([
  RESTJSONErrorCodes.UnknownMessage,
  RESTJSONErrorCodes.UnknownChannel,
  RESTJSONErrorCodes.MissingAccess,
  RESTJSONErrorCodes.MissingPermissions,
  RESTJSONErrorCodes.CannotSendMessagesToThisUser,
  RESTJSONErrorCodes.CannotSendMessagesToThisUserDueToHavingNoMutualGuilds,
]);

function classify(error: unknown, route: Route['kind']): Failure | 'too_large' {
  if (isTransientDiscordError(error)) return 'transient';
  if (isTooLargeError(error)) return 'too_large';
  if (route === 'token') {
    if (discordCode(error) === RESTJSONErrorCodes.UnknownMessage) return 'message_gone';
    if (isDeadTokenError(error)) return 'dead_token';
  } else if (NO_ACCESS.has(discordCode(error) ?? 0)) return 'no_access';
  return 'refused';
}

const isLinkButton = (button: APIButtonComponent) => button.style === ButtonStyle.Link;

/** The one alternative to a refused body: the same message without its link button. */
function withoutLinkButtons(view: MessageView): MessageView {
  const components = view.components
    .map((row) => ({ ...row, components: row.components.filter((c) => !isLinkButton(c)) }))
    .filter((row) => row.components.length > 0);
  return { ...view, components };
}

function hasLinkButton(view: MessageView): boolean {
  return view.components.some((row) => row.components.some(isLinkButton));
}

/** A new channel message, unlike an edit, notifies: it names the member and pings only them. */
function withMention(view: MessageView, userId: string): MessageView {
  return { ...view, content: `${userMention(userId)} ${view.content}`, allowedMentions: { users: [userId] } };
}

export interface SendLadderDeps {
  readonly rest: DiscordRestApi;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The server's boost-tier upload limit for bot-token messages. */
  readonly guildUploadLimit: (guildId: string) => number;
}

/**
 * THE way a message reaches a member (DESIGN §4 "Past the token"): the interaction token while it is
 * fresh -> the bot token editing the known message -> a new post in the channel (public) or by DM
 * (private). A too large file falls back to the link, a refused body to the same message without its
 * link button, each once; transient failures are the caller's to retry.
 */
export class SendLadder {
  constructor(private readonly deps: SendLadderDeps) {}

  /** The token, while it may be used: present, never refused, and younger than 14 minutes. */
  #freshToken(target: SendTarget): string | null {
    if (target.tokenDead || this.deps.clock.now() - target.tokenIssuedAt >= TOKEN_LIFETIME_MS) return null;
    return target.token;
  }

  async send(request: SendRequest): Promise<SendOutcome> {
    try {
      return await this.#ladder(request);
    } catch (error) {
      // A download or store failure, or a bug: transient, for the reason isTransientDiscordError gives.
      return { kind: 'transient', error };
    }
  }

  async #ladder(request: SendRequest): Promise<SendOutcome> {
    const { target } = request;
    const { rest, logger } = this.deps;
    let editable = !target.private && target.messageId !== null;
    const token = this.#freshToken(target);
    if (token !== null) {
      const route: Route = {
        kind: 'token',
        limitBytes: target.tokenUploadLimit ?? DEFAULT_UPLOAD_LIMIT,
        send: (view, files) =>
          rest.editOriginal(token, view, { files, replaceAttachments: request.file !== undefined }),
      };
      const attempt = await this.#attempt(route, request);
      if (attempt.kind === 'dead_token') {
        logger.warn(request.logFields, 'interaction token refused; switching to the bot token');
        await request.onTokenDead();
      } else if (attempt.kind === 'message_gone') editable = false;
      else return this.#settle(attempt, route, request);
    }
    if (editable && target.messageId !== null) {
      const messageId = target.messageId;
      const route: Route = {
        kind: 'edit',
        limitBytes: this.#channelLimit(target),
        send: (view, files) =>
          rest.editChannelMessage(target.channelId, messageId, view, {
            files,
            replaceAttachments: request.file !== undefined,
          }),
      };
      const attempt = await this.#attempt(route, request);
      if (attempt.kind !== 'no_access') return this.#settle(attempt, route, request);
      logger.warn({ ...request.logFields, code: discordCode(attempt.error) }, 'message cannot be edited; posting anew');
    }
    if (request.editOnly) return { kind: 'undeliverable', reason: 'no message it may edit' };
    if (!target.private) return this.#post(request, { via: 'channel', channelId: target.channelId });
    let dm: string;
    try {
      dm = await rest.openDm(target.userId);
    } catch (error) {
      const failure = classify(error, 'dm');
      if (failure === 'transient') return { kind: 'transient', error };
      return { kind: 'undeliverable', reason: failure === 'no_access' ? 'DMs closed' : 'DM refused' };
    }
    return this.#post(request, { via: 'dm', channelId: dm });
  }

  #channelLimit(target: SendTarget): number {
    return target.guildId === null ? DEFAULT_UPLOAD_LIMIT : this.deps.guildUploadLimit(target.guildId);
  }

  async #post(request: SendRequest, post: NewPost): Promise<SendOutcome> {
    const before = await request.beforePost?.(post);
    if (before && 'found' in before) return { kind: 'sent', via: post.via, messageId: before.found };
    const nonce = before?.nonce;
    const { userId } = request.target;
    const route: Route = {
      kind: post.via,
      limitBytes: post.via === 'dm' ? DEFAULT_UPLOAD_LIMIT : this.#channelLimit(request.target),
      send: (view, files, form) =>
        this.deps.rest.postChannelMessage(post.channelId, post.via === 'dm' ? view : withMention(view, userId), {
          files,
          // A different body under the same nonce would be taken for the first one by Discord.
          nonce: nonce === undefined ? undefined : `${nonce}${form}`,
        }),
    };
    const attempt = await this.#attempt(route, request);
    if (attempt.kind === 'no_access') {
      // Public jobs are never moved into DMs (DESIGN §4): nowhere is left.
      return { kind: 'undeliverable', reason: post.via === 'dm' ? 'DMs closed' : 'the channel refuses the post' };
    }
    return this.#settle(attempt, route, request);
  }

  /** One route, its forms in turn: the file, then the link when it is too large, then without the link button. */
  async #attempt(route: Route, request: SendRequest): Promise<Attempt> {
    const file = request.file ? await request.file(route.limitBytes) : null;
    let attached = file !== null;
    let linkButton = true;
    for (;;) {
      const full = request.view({ attached, limitBytes: route.limitBytes });
      const view = linkButton ? full : withoutLinkButtons(full);
      try {
        const message = await route.send(
          view,
          attached && file ? [file] : [],
          `${attached ? '' : 'l'}${linkButton ? '' : 'b'}`,
        );
        return { kind: 'sent', messageId: message.id };
      } catch (error) {
        const failure = classify(error, route.kind);
        if (failure === 'too_large' && attached) attached = false;
        else if (failure === 'refused' && linkButton && hasLinkButton(full)) linkButton = false;
        else return { kind: failure === 'too_large' ? 'refused' : failure, error };
        this.deps.logger.warn(
          { ...request.logFields, route: route.kind, code: discordCode(error) },
          'Discord refused the message; sending its alternative form',
        );
      }
    }
  }

  async #settle(attempt: Attempt, route: Route, request: SendRequest): Promise<SendOutcome> {
    if (attempt.kind === 'sent') return { kind: 'sent', via: route.kind, messageId: attempt.messageId };
    if (attempt.kind === 'transient') return { kind: 'transient', error: attempt.error };
    const code = discordCode(attempt.error);
    if (request.refusedNotice) {
      await route.send(request.refusedNotice, [], 'n').catch((error: unknown) => {
        this.deps.logger.warn({ ...request.logFields, code: discordCode(error) }, 'could not tell the member either');
      });
    }
    return { kind: 'undeliverable', reason: `Discord refused every form (${route.kind}, code ${code ?? 'none'})` };
  }
}
