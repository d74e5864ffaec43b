import type { Clock } from '../../lib/clock.js';
import { CustomIdPrefix, encodeCustomId } from '../../lib/customId.js';
import { Semaphore } from '../../lib/semaphore.js';
import type { Logger } from '../../logger.js';
import type { DeliveryAttempt, JobRecord } from '../jobs/record.js';
import { MediaRefusedError, type MediaRefusal } from '../runtime/fetchGuard.js';
import type { KeptDownloads } from './keptDownloads.js';
import { discordCode, type DiscordRestApi, type MessageView } from './rest.js';
import type { NewPost, SendLadder, SendOutcome, SendRequest, SendTarget } from './send.js';
import { jobMessageLink, renderMention, renderNotice, renderResult } from './views.js';

export type DeliveryOutcome =
  | { readonly kind: 'delivered'; readonly job: JobRecord; readonly messageId: string | null }
  | { readonly kind: 'retry'; readonly job: JobRecord; readonly error: unknown }
  | { readonly kind: 'undeliverable'; readonly job: JobRecord; readonly reason: string }
  /** The result URL, or what it served, failed the media fetch guard: nothing was posted, the job fails. */
  | { readonly kind: 'refused'; readonly job: JobRecord; readonly reason: MediaRefusal };

/** The persistence the delivery path needs: it records token death and attempts before posting. */
export interface JobWriter {
  update(id: string, change: (job: JobRecord) => JobRecord): Promise<JobRecord>;
}

export interface DeliveryDeps {
  /** For what only a video delivery does: the mention, and the search for an earlier post. */
  readonly rest: DiscordRestApi;
  readonly send: SendLadder;
  readonly downloads: KeptDownloads;
  readonly jobs: JobWriter;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly concurrency: number;
  readonly unitsLeft: (job: JobRecord) => Promise<{ remaining: number; limit: number } | null>;
  readonly slowJobMs?: number;
}

function targetOf(job: JobRecord): SendTarget {
  return {
    token: job.interaction.token,
    tokenIssuedAt: job.interaction.createdAt,
    tokenDead: job.interaction.tokenDead,
    tokenUploadLimit: job.interaction.attachmentSizeLimit,
    channelId: job.channelId,
    guildId: job.guildId,
    messageId: job.messageId,
    private: job.private,
    userId: job.requesterId,
  };
}

/**
 * Puts a job's messages in front of its requester through the send ladder: status and failure edits,
 * and the finished video at least once with duplicates suppressed (DESIGN §4). It never fails a job;
 * it answers delivered, retry later, or undeliverable.
 */
export class DeliveryService {
  readonly #slots: Semaphore;
  readonly #slowJobMs: number;

  constructor(private readonly deps: DeliveryDeps) {
    this.#slots = new Semaphore(deps.concurrency);
    this.#slowJobMs = deps.slowJobMs ?? 60_000;
  }

  /** Status edits of the job message: never a new post. Throws when Discord may take it later. */
  async updateJobMessage(job: JobRecord, view: MessageView): Promise<{ job: JobRecord; shown: boolean }> {
    const { outcome, job: current } = await this.#send(job, { view: () => view, editOnly: true });
    if (outcome.kind === 'transient') throw outcome.error;
    return { job: current, shown: outcome.kind === 'sent' };
  }

  /** A failure must reach the member even when the job message cannot be edited any more. */
  async showFailure(job: JobRecord, view: MessageView): Promise<JobRecord> {
    const { outcome, job: current } = await this.#send(job, { view: () => view });
    if (outcome.kind === 'transient') throw outcome.error;
    if (outcome.kind === 'undeliverable') {
      this.deps.logger.warn({ jobId: job.id, reason: outcome.reason }, 'could not show a failure to its requester');
    }
    return current;
  }

  async deliver(job: JobRecord): Promise<DeliveryOutcome> {
    return this.#slots.run(async () => {
      const url = job.resultUrls[0];
      if (!url) return { kind: 'undeliverable', job, reason: 'no result URL' };
      const unitsLeft = await this.deps.unitsLeft(job).catch(() => null);
      const { outcome, job: current } = await this.deps.downloads.using(url, (attach) =>
        this.#send(job, {
          view: ({ attached, limitBytes }) => renderResult(job, { attached, limitBytes, unitsLeft }),
          file: (limitBytes) => attach(limitBytes, `veo-${job.id}.mp4`),
          beforePost: (post) => this.#beforePost(job, post),
          refusedNotice: renderNotice(job.locale, 'result.undeliverable', { url }),
        }),
      );
      if (outcome.kind === 'transient' && outcome.error instanceof MediaRefusedError) {
        await this.deps.downloads.release(url);
        this.deps.logger.warn(
          { jobId: job.id, reason: outcome.error.reason, host: outcome.error.host },
          'result URL refused by the media fetch guard; nothing posted',
        );
        return { kind: 'refused', job: current, reason: outcome.error.reason };
      }
      // The file is kept for the next attempt only while one may come.
      if (outcome.kind === 'transient') return { kind: 'retry', job: current, error: outcome.error };
      await this.deps.downloads.release(url);
      if (outcome.kind === 'undeliverable') return { kind: 'undeliverable', job: current, reason: outcome.reason };
      await this.#mention(current, outcome);
      return { kind: 'delivered', job: current, messageId: outcome.messageId };
    });
  }

  /** One ladder run for the job; the job as it stands after it (token death persisted). */
  async #send(
    job: JobRecord,
    request: Omit<SendRequest, 'target' | 'onTokenDead' | 'logFields'>,
  ): Promise<{ outcome: SendOutcome; job: JobRecord }> {
    const state = { job };
    const outcome = await this.deps.send.send({
      ...request,
      target: targetOf(job),
      onTokenDead: async () => {
        state.job = await this.deps.jobs.update(job.id, (j) => ({
          ...j,
          interaction: { ...j.interaction, tokenDead: true },
        }));
      },
      logFields: { jobId: job.id },
    });
    return { outcome, job: state.job };
  }

  /** After a crash between posting and recording, the post may already exist: look before posting again. */
  async #beforePost(job: JobRecord, post: NewPost): Promise<{ found: string } | { nonce: string }> {
    const found = await this.#findPosted(job, post.channelId).catch(() => null);
    if (found) return { found };
    return { nonce: await this.#nonce(job, post.via) };
  }

  /**
   * Recorded before the post it names (DESIGN §4); a retry of the same kind of post reuses it, so
   * Discord itself drops the duplicate of a post whose answer was lost.
   */
  async #nonce(job: JobRecord, via: DeliveryAttempt['via']): Promise<string> {
    const open = job.deliveryAttempts.findLast((a) => a.via === via);
    if (open) return `${job.id}-${open.n}`;
    const recorded = { n: 0 };
    await this.deps.jobs.update(job.id, (j) => {
      recorded.n = j.deliveryAttempts.length + 1;
      return { ...j, deliveryAttempts: [...j.deliveryAttempts, { n: recorded.n, at: this.deps.clock.now(), via }] };
    });
    return `${job.id}-${recorded.n}`;
  }

  async #findPosted(job: JobRecord, channelId: string): Promise<string | null> {
    if (!job.deliveryAttempts.some((a) => a.via !== 'mention')) return null;
    const marker = JSON.stringify(encodeCustomId(CustomIdPrefix.Upscale1080p, job.id));
    const recent = await this.deps.rest.recentChannelMessages(channelId, 50);
    const found = recent.find(
      (m) =>
        JSON.stringify(m.components ?? []).includes(marker) && (m.attachments.length > 0 || m.id !== job.messageId),
    );
    return found?.id ?? null;
  }

  /**
   * An edit notifies nobody: a bot-token edit, or a token edit of a slow job, earns one short ping. It is
   * best effort (the video is already in the job message), so a failed ping is only logged.
   */
  async #mention(job: JobRecord, sent: Extract<SendOutcome, { kind: 'sent' }>): Promise<void> {
    const token = job.interaction.token;
    const viaToken = sent.via === 'token' && token !== null && this.deps.clock.now() - job.createdAt > this.#slowJobMs;
    if (!viaToken && sent.via !== 'edit') return;
    const link = jobMessageLink(job, sent.messageId);
    const view = renderMention(job, link);
    try {
      if (job.deliveryAttempts.some((a) => a.via === 'mention')) {
        // An ephemeral follow-up cannot be looked for, so a private job's ping is sent at most once.
        if (job.private) return;
        const recent = await this.deps.rest.recentChannelMessages(job.channelId, 50);
        if (recent.some((m) => m.content.includes(link))) return;
      }
      const nonce = await this.#nonce(job, 'mention');
      if (viaToken) await this.deps.rest.followUp(token, view, { ephemeral: job.private });
      else await this.deps.rest.postChannelMessage(job.channelId, view, { nonce });
    } catch (error) {
      this.deps.logger.warn(
        { jobId: job.id, code: discordCode(error) },
        'mention failed; the video itself was delivered',
      );
    }
  }
}
