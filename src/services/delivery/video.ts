import type { Clock } from '../../lib/clock.js';
import { DownloadError, type DownloadResult } from '../../lib/download.js';
import { jobMessageLink, renderMention, renderResult } from './views.js';
import { type MessageView } from './rest.js';
import { Semaphore } from '../../lib/semaphore.js';
import type { Logger } from '../../logger.js';
import {
  DiscordCode,
  discordCode,
  isDeadTokenError,
  isTooLargeError,
  type DiscordRest,
  type OutgoingFile,
} from './rest.js';
import type { DeliveryAttempt, JobRecord } from '../jobs/record.js';

export const MiB = 1024 * 1024;
export const DEFAULT_UPLOAD_LIMIT = 10 * MiB;
/** Interaction tokens live 15 minutes; stop trusting one a minute early. */
export const TOKEN_LIFETIME_MS = 14 * 60_000;

export function uploadLimitForTier(premiumTier: number): number {
  if (premiumTier >= 3) return 100 * MiB;
  if (premiumTier === 2) return 50 * MiB;
  return DEFAULT_UPLOAD_LIMIT;
}

export type DeliveryOutcome =
  | { readonly kind: 'delivered'; readonly job: JobRecord; readonly messageId: string | null }
  | { readonly kind: 'retry'; readonly job: JobRecord; readonly error: unknown }
  | { readonly kind: 'undeliverable'; readonly job: JobRecord; readonly reason: string };

/** The persistence the delivery path needs: it records token death and attempts before posting. */
export interface JobWriter {
  update(id: string, change: (job: JobRecord) => JobRecord): Promise<JobRecord>;
}

export interface DeliveryDeps {
  readonly messages: DiscordRest;
  readonly download: (url: string, capBytes: number) => Promise<DownloadResult>;
  readonly jobs: JobWriter;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly concurrency: number;
  /** The server's boost-tier upload limit for bot-token posts. */
  readonly guildUploadLimit: (guildId: string) => number;
  readonly unitsLeft: (job: JobRecord) => Promise<{ remaining: number; limit: number } | null>;
  readonly slowJobMs?: number;
}

/** A new channel message, unlike an edit, notifies: it names the requester and pings only them. */
function withMention(view: MessageView, userId: string): MessageView {
  return { ...view, content: `<@${userId}> ${view.content}`, allowedMentions: { users: [userId] } };
}

type Video = { readonly kind: 'file'; readonly file: OutgoingFile } | { readonly kind: 'link' };

const NO_ACCESS: ReadonlySet<number> = new Set([
  DiscordCode.UnknownMessage,
  DiscordCode.UnknownChannel,
  DiscordCode.MissingAccess,
  DiscordCode.MissingPermissions,
]);

/**
 * Puts a finished video in front of its requester: at least once, with duplicates suppressed
 * (DESIGN §4). It never fails a job; it answers delivered, retry later, or nowhere to post.
 */
export class DeliveryService {
  readonly #slots: Semaphore;
  readonly #slowJobMs: number;

  constructor(private readonly deps: DeliveryDeps) {
    this.#slots = new Semaphore(deps.concurrency);
    this.#slowJobMs = deps.slowJobMs ?? 60_000;
  }

  tokenUsable(job: JobRecord): boolean {
    const { interaction } = job;
    return (
      interaction.token !== null &&
      !interaction.tokenDead &&
      this.deps.clock.now() - interaction.createdAt < TOKEN_LIFETIME_MS
    );
  }

  async markTokenDead(job: JobRecord): Promise<JobRecord> {
    this.deps.logger.warn({ jobId: job.id }, 'interaction token refused; switching to the bot token');
    return this.deps.jobs.update(job.id, (j) => ({ ...j, interaction: { ...j.interaction, tokenDead: true } }));
  }

  /** Status and failure edits of the job message. Returns the job as it stands after the attempt. */
  async updateJobMessage(job: JobRecord, view: MessageView): Promise<{ job: JobRecord; shown: boolean }> {
    let current = job;
    if (this.tokenUsable(current) && current.interaction.token) {
      try {
        await this.deps.messages.editOriginal(current.interaction.token, view);
        return { job: current, shown: true };
      } catch (error) {
        if (!isDeadTokenError(error)) throw error;
        current = await this.markTokenDead(current);
      }
    }
    if (current.private || !current.messageId) return { job: current, shown: false };
    try {
      await this.deps.messages.editChannelMessage(current.channelId, current.messageId, view);
      return { job: current, shown: true };
    } catch (error) {
      if (NO_ACCESS.has(discordCode(error) ?? 0)) return { job: current, shown: false };
      throw error;
    }
  }

  /** A failure must reach the member even when the job message cannot be edited any more. */
  async showFailure(job: JobRecord, view: MessageView): Promise<JobRecord> {
    const { job: current, shown } = await this.updateJobMessage(job, view);
    if (shown) return current;
    try {
      if (current.private) {
        const dm = await this.deps.messages.openDm(current.requesterId);
        await this.deps.messages.postChannelMessage(dm, view);
      } else {
        await this.deps.messages.postChannelMessage(current.channelId, withMention(view, current.requesterId));
      }
    } catch (error) {
      this.deps.logger.warn(
        { jobId: current.id, code: discordCode(error) },
        'could not show a failure to its requester',
      );
    }
    return current;
  }

  async deliver(job: JobRecord): Promise<DeliveryOutcome> {
    return this.#slots.run(async () => {
      const url = job.resultUrls[0];
      if (!url) return { kind: 'undeliverable', job, reason: 'no result URL' };
      const fetched = new Map<number, Video>();
      const video = async (limit: number): Promise<Video> => {
        for (const [cap, got] of fetched)
          if (got.kind === 'file' ? got.file.data.length <= limit : cap >= limit) return got;
        const result = await this.#fetch(job, url, limit);
        fetched.set(limit, result);
        return result;
      };
      try {
        let current = job;
        if (this.tokenUsable(current)) {
          const outcome = await this.#viaToken(current, video);
          if (outcome) return outcome;
          current = await this.markTokenDead(current);
        }
        return current.private ? await this.#viaDm(current, video) : await this.#viaChannel(current, video);
      } catch (error) {
        return { kind: 'retry', job, error };
      }
    });
  }

  async #fetch(job: JobRecord, url: string, limit: number): Promise<Video> {
    let result: DownloadResult;
    try {
      result = await this.deps.download(url, limit);
    } catch (error) {
      // A result URL that is gone for good can still be offered as a link; anything else is retried.
      if (error instanceof DownloadError && !error.transient) return { kind: 'link' };
      throw error;
    }
    if (result.kind === 'too_large') return { kind: 'link' };
    return { kind: 'file', file: { name: `veo-${job.id}.mp4`, data: result.data, contentType: 'video/mp4' } };
  }

  async #resultView(job: JobRecord, attached: boolean, limit: number): Promise<MessageView> {
    const unitsLeft = await this.deps.unitsLeft(job).catch(() => null);
    return renderResult(job, { attached, limitBytes: limit, unitsLeft });
  }

  /** null when the token turned out to be dead. */
  async #viaToken(job: JobRecord, video: (limit: number) => Promise<Video>): Promise<DeliveryOutcome | null> {
    const token = job.interaction.token;
    if (!token) return null;
    const limit = job.interaction.attachmentSizeLimit ?? DEFAULT_UPLOAD_LIMIT;
    const got = await video(limit);
    let message;
    try {
      message = await this.deps.messages.editOriginal(token, await this.#resultView(job, got.kind === 'file', limit), {
        files: got.kind === 'file' ? [got.file] : [],
        replaceAttachments: true,
      });
    } catch (error) {
      if (isDeadTokenError(error)) return null;
      if (!isTooLargeError(error)) throw error;
      message = await this.deps.messages.editOriginal(token, await this.#resultView(job, false, limit), {
        replaceAttachments: true,
      });
    }
    if (this.deps.clock.now() - job.createdAt > this.#slowJobMs) {
      const link = jobMessageLink(job, message.id);
      // An ephemeral follow-up cannot be looked for, so a private job's ping is sent at most once.
      await this.#mentionOnce(job, link, job.private ? null : job.channelId, () =>
        this.deps.messages.followUp(token, renderMention(job, link), { ephemeral: job.private }),
      );
    }
    return { kind: 'delivered', job, messageId: message.id };
  }

  async #recordAttempt(job: JobRecord, via: DeliveryAttempt['via']): Promise<{ job: JobRecord; nonce: string }> {
    const recorded = { n: 0 };
    const updated = await this.deps.jobs.update(job.id, (j) => {
      recorded.n = j.deliveryAttempts.length + 1;
      return { ...j, deliveryAttempts: [...j.deliveryAttempts, { n: recorded.n, at: this.deps.clock.now(), via }] };
    });
    return { job: updated, nonce: `${job.id}-${recorded.n}` };
  }

  /**
   * The one short ping that an edit cannot give. Recorded before it is sent and looked for before it is
   * sent again, and best effort: the video is already in the job message, so a failed ping is only logged.
   */
  async #mentionOnce(
    job: JobRecord,
    link: string,
    searchIn: string | null,
    send: (nonce: string) => Promise<unknown>,
  ): Promise<void> {
    try {
      if (job.deliveryAttempts.some((a) => a.via === 'mention')) {
        if (searchIn === null) return;
        const recent = await this.deps.messages.recentChannelMessages(searchIn, 50);
        if (recent.some((m) => m.content.includes(link))) return;
      }
      const { nonce } = await this.#recordAttempt(job, 'mention');
      await send(nonce);
    } catch (error) {
      this.deps.logger.warn(
        { jobId: job.id, code: discordCode(error) },
        'mention failed; the video itself was delivered',
      );
    }
  }

  /** After a crash between posting and recording, the post may already exist: look before posting again. */
  async #findPosted(job: JobRecord, channelId: string): Promise<string | null> {
    if (!job.deliveryAttempts.some((a) => a.via !== 'mention')) return null;
    const marker = `veo:hd:${job.id}`;
    const recent = await this.deps.messages.recentChannelMessages(channelId, 50);
    const found = recent.find(
      (m) =>
        JSON.stringify(m.components ?? []).includes(`"${marker}"`) &&
        (m.attachments.length > 0 || m.id !== job.messageId),
    );
    return found?.id ?? null;
  }

  async #viaChannel(job: JobRecord, video: (limit: number) => Promise<Video>): Promise<DeliveryOutcome> {
    const limit = job.guildId ? this.deps.guildUploadLimit(job.guildId) : DEFAULT_UPLOAD_LIMIT;
    const got = await video(limit);
    const files = got.kind === 'file' ? [got.file] : [];
    if (job.messageId) {
      const messageId = job.messageId;
      let edited = false;
      try {
        await this.#editWithFallback(job, messageId, got.kind === 'file', files, limit);
        edited = true;
      } catch (error) {
        if (!NO_ACCESS.has(discordCode(error) ?? 0)) throw error;
        this.deps.logger.warn(
          { jobId: job.id, code: discordCode(error) },
          'job message cannot be edited; posting anew',
        );
      }
      if (edited) {
        // The edit carries the video; only a failed edit may post it anew (never the ping failing).
        const link = jobMessageLink(job, messageId);
        await this.#mentionOnce(job, link, job.channelId, (nonce) =>
          this.deps.messages.postChannelMessage(job.channelId, renderMention(job, link), { nonce }),
        );
        return { kind: 'delivered', job, messageId };
      }
    }
    const existing = await this.#findPosted(job, job.channelId).catch(() => null);
    if (existing) return { kind: 'delivered', job, messageId: existing };
    const { nonce } = await this.#recordAttempt(job, 'channel');
    try {
      const posted = await this.#postWithFallback(job.channelId, job, files, nonce, limit, true);
      return { kind: 'delivered', job, messageId: posted };
    } catch (error) {
      if (!NO_ACCESS.has(discordCode(error) ?? 0)) throw error;
      return this.#viaDm(job, video);
    }
  }

  async #editWithFallback(
    job: JobRecord,
    messageId: string,
    attached: boolean,
    files: OutgoingFile[],
    limit: number,
  ): Promise<void> {
    try {
      await this.deps.messages.editChannelMessage(
        job.channelId,
        messageId,
        await this.#resultView(job, attached, limit),
        {
          files,
          replaceAttachments: true,
        },
      );
    } catch (error) {
      if (!isTooLargeError(error)) throw error;
      await this.deps.messages.editChannelMessage(job.channelId, messageId, await this.#resultView(job, false, limit), {
        replaceAttachments: true,
      });
    }
  }

  /** Posts the result; when Discord says the file is too large, posts the link version instead. */
  async #postWithFallback(
    channelId: string,
    job: JobRecord,
    files: OutgoingFile[],
    nonce: string,
    limit: number,
    mention: boolean,
  ): Promise<string> {
    const view = async (attached: boolean) => {
      const result = await this.#resultView(job, attached, limit);
      return mention ? withMention(result, job.requesterId) : result;
    };
    try {
      return (await this.deps.messages.postChannelMessage(channelId, await view(files.length > 0), { files, nonce }))
        .id;
    } catch (error) {
      if (!isTooLargeError(error)) throw error;
      // A different body under the same nonce would be dropped as a duplicate by Discord.
      return (await this.deps.messages.postChannelMessage(channelId, await view(false), { nonce: `${nonce}l` })).id;
    }
  }

  async #viaDm(job: JobRecord, video: (limit: number) => Promise<Video>): Promise<DeliveryOutcome> {
    let dm: string;
    try {
      dm = await this.deps.messages.openDm(job.requesterId);
    } catch (error) {
      if (discordCode(error) === DiscordCode.CannotDmUser) return { kind: 'undeliverable', job, reason: 'DMs closed' };
      throw error;
    }
    const got = await video(DEFAULT_UPLOAD_LIMIT);
    const existing = await this.#findPosted(job, dm).catch(() => null);
    if (existing) return { kind: 'delivered', job, messageId: existing };
    const { nonce } = await this.#recordAttempt(job, 'dm');
    try {
      const files = got.kind === 'file' ? [got.file] : [];
      const posted = await this.#postWithFallback(dm, job, files, nonce, DEFAULT_UPLOAD_LIMIT, false);
      return { kind: 'delivered', job, messageId: posted };
    } catch (error) {
      if (discordCode(error) === DiscordCode.CannotDmUser) return { kind: 'undeliverable', job, reason: 'DMs closed' };
      throw error;
    }
  }
}
