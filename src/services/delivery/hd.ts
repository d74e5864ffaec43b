import type { MessageKey } from '../../i18n/index.js';
import type { Clock } from '../../lib/clock.js';
import { formatBytes } from '../../lib/format.js';
import type { Logger } from '../../logger.js';
import type { HdState, JobRecord } from '../jobs/record.js';
import { STEP_RETRY_BASE_MS, STEP_RETRY_MAX_MS } from '../jobs/steps.js';
import type { JobStore } from '../jobs/store.js';
import type { HdResult } from '../kie/types.js';
import { hdSpendId } from '../quota/credits.js';
import { MediaRefusedError } from '../runtime/fetchGuard.js';
import type { Attach, KeptDownloads } from './keptDownloads.js';
import { TOKEN_LIFETIME_MS } from './limits.js';
import type { SendLadder, SendRequest, SendTarget } from './send.js';
import { renderNotice } from './views.js';

export const HD_MAX_WAIT_MS = 10 * 60_000;

export type HdClaim =
  | { readonly kind: 'claimed'; readonly job: JobRecord }
  | { readonly kind: 'already' }
  | { readonly kind: 'ready'; readonly url: string }
  | { readonly kind: 'not_ready' }
  | { readonly kind: 'missing' };

export interface HdClick {
  readonly interactionId: string;
  readonly token: string;
  readonly channelId: string;
  readonly userId: string;
  readonly attachmentSizeLimit: number | null;
  /** The clicker's language: the 1080P reply is theirs. */
  readonly locale?: string;
}

export interface HdServiceDeps {
  readonly jobs: JobStore;
  readonly kie: { get1080p(taskId: string, index?: number): Promise<HdResult> };
  readonly send: SendLadder;
  readonly downloads: KeptDownloads;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly pollIntervalMs: number;
  /** The bot's credit budget: the click reserved its 1080P price; kie's first answer settles it, a refusal returns it. */
  readonly credits?: { settle(spendId: string): Promise<void>; refund(spendId: string): Promise<boolean> };
}

/** The click's deferred reply; its token is dropped (set to null) once refused, so it is never used again. */
function targetOf(job: JobRecord, hd: HdState): SendTarget {
  return {
    token: hd.token,
    tokenIssuedAt: hd.at,
    tokenDead: false,
    tokenUploadLimit: hd.attachmentSizeLimit,
    channelId: hd.channelId,
    guildId: job.guildId,
    messageId: hd.replyMessageId,
    private: hd.ephemeral,
    userId: hd.requesterId,
  };
}

/**
 * The 1080P button (DESIGN §5): one preparation per job, re-checked while kie says "processing",
 * delivered once as the edit of the click's deferred reply, resumable from the record after a restart.
 */
export class HdService {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #inflight = new Set<Promise<void>>();
  /** Jobs whose check is running now: resume must not start a second one beside it. */
  readonly #checking = new Set<string>();
  readonly #missed = new Set<string>();
  /** Consecutive failed checks per job (a store error): the next one waits longer. */
  readonly #failures = new Map<string, number>();
  #stopping = false;

  constructor(private readonly deps: HdServiceDeps) {}

  /** Reads the state and, when nobody is preparing it, takes the preparation in the same locked write. */
  async claim(jobId: string, click: HdClick): Promise<HdClaim> {
    const job = await this.deps.jobs.get(jobId);
    if (!job) return { kind: 'missing' };
    // The button is on the result itself: a click while the record still says `delivering` (the edit
    // reached Discord, its write had not yet, or a restart is still confirming it) is a click on a video.
    if ((job.state !== 'delivered' && job.state !== 'delivering') || !job.taskId) return { kind: 'not_ready' };
    const outcome: { value: HdClaim } = { value: { kind: 'already' } };
    const updated = await this.deps.jobs.update(jobId, (j) => {
      const hd = j.hd;
      if (hd?.state === 'ready' && hd.url) {
        outcome.value = { kind: 'ready', url: hd.url };
        return j;
      }
      if (hd?.state === 'preparing' && this.deps.clock.now() - hd.at < HD_MAX_WAIT_MS + TOKEN_LIFETIME_MS) return j;
      const next: HdState = {
        state: 'preparing',
        interactionId: click.interactionId,
        token: click.token,
        at: this.deps.clock.now(),
        replyMessageId: null,
        channelId: click.channelId,
        requesterId: click.userId,
        attachmentSizeLimit: click.attachmentSizeLimit,
        ephemeral: j.private,
        url: null,
        ...(click.locale ? { locale: click.locale } : {}),
      };
      outcome.value = { kind: 'claimed', job: j };
      return { ...j, hd: next };
    });
    return outcome.value.kind === 'claimed' ? { kind: 'claimed', job: updated } : outcome.value;
  }

  /** Gives the preparation back when this click could not even be answered (never another click's). */
  async release(jobId: string, interactionId: string): Promise<void> {
    await this.deps.jobs.update(jobId, (j) => (j.hd?.interactionId === interactionId ? { ...j, hd: null } : j));
  }

  async start(jobId: string, replyMessageId: string | null): Promise<void> {
    // Scheduled first: the click was answered, so a failed write must not leave the preparation waiting.
    this.#schedule(jobId, 0);
    try {
      await this.deps.jobs.update(jobId, (j) => (j.hd ? { ...j, hd: { ...j.hd, replyMessageId } } : j));
    } catch (error) {
      // Only a bot-token edit after the click token's 15 minutes needs it; the token path does not.
      this.deps.logger.warn({ jobId, err: error }, 'could not record the 1080P reply message');
    }
  }

  async resume(): Promise<number> {
    const preparing = await this.deps.jobs.hdPreparing();
    // A click claimed during start-up was scheduled by start() already: one check, not two.
    const waiting = preparing.filter((job) => !this.#timers.has(job.id) && !this.#checking.has(job.id));
    for (const job of waiting) this.#schedule(job.id, 0);
    return waiting.length;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.allSettled([...this.#inflight]);
  }

  #schedule(jobId: string, delayMs: number): void {
    if (this.#stopping) return;
    // A click claimed while resume runs is scheduled by both start() and resume(): one check, not two.
    const existing = this.#timers.get(jobId);
    if (existing) clearTimeout(existing);
    const timer = setTimeout(() => {
      this.#timers.delete(jobId);
      if (this.#checking.has(jobId)) {
        this.#missed.add(jobId);
        return;
      }
      this.#checking.add(jobId);
      const run = this.#check(jobId).then(
        () => void this.#failures.delete(jobId),
        (error: unknown) => {
          // A store error (or a bug) must not strand the preparation: the check runs again later.
          const failures = (this.#failures.get(jobId) ?? 0) + 1;
          this.#failures.set(jobId, failures);
          const retryInMs = Math.min(STEP_RETRY_BASE_MS * 2 ** Math.min(failures - 1, 30), STEP_RETRY_MAX_MS);
          this.deps.logger.warn({ jobId, failures, retryInMs, err: error }, '1080P step failed; trying again');
          this.#checking.delete(jobId);
          this.#schedule(jobId, retryInMs);
        },
      );
      this.#inflight.add(run);
      void run.finally(() => {
        this.#inflight.delete(run);
        this.#checking.delete(jobId);
        // Asked for while this check ran (it may have read the record before the click was written).
        if (this.#missed.delete(jobId)) this.#schedule(jobId, 0);
      });
    }, delayMs);
    this.#timers.set(jobId, timer);
  }

  async #check(jobId: string): Promise<void> {
    const job = await this.deps.jobs.get(jobId);
    const hd = job?.hd;
    if (!job?.taskId || hd?.state !== 'preparing') return;
    let result: HdResult;
    const spendId = hdSpendId(jobId, hd.interactionId);
    try {
      result = await this.deps.kie.get1080p(job.taskId, 0);
    } catch (error) {
      this.deps.logger.warn({ jobId, taskId: job.taskId, err: error }, '1080P request refused');
      await this.#credits('refund', spendId);
      return this.#finish(job, hd, null);
    }
    await this.#credits('settle', spendId);
    if (result.state === 'processing') {
      if (this.deps.clock.now() - hd.at >= HD_MAX_WAIT_MS) return this.#finish(job, hd, null);
      this.#schedule(jobId, this.deps.pollIntervalMs);
      return;
    }
    return this.#finish(job, hd, result.url);
  }

  /** Bookkeeping of the bot's budget must never strand a preparation: a failure is logged, start-up reconciles it. */
  async #credits(step: 'settle' | 'refund', spendId: string): Promise<void> {
    try {
      await this.deps.credits?.[step](spendId);
    } catch (error) {
      this.deps.logger.warn({ spendId, err: error }, `could not ${step} the 1080P credits`);
    }
  }

  async #finish(job: JobRecord, hd: HdState, url: string | null, failure: MessageKey = 'hd.failed'): Promise<void> {
    const locale = hd.locale ?? job.locale;
    const request = (attach: Attach | null): SendRequest => ({
      target: targetOf(job, hd),
      view: ({ attached, limitBytes }) => {
        if (url === null) return renderNotice(locale, failure);
        if (attached) return renderNotice(locale, 'hd.ready_file');
        return renderNotice(locale, 'hd.too_large', { limit: formatBytes(limitBytes), url });
      },
      ...(attach === null ? {} : { file: (limitBytes: number) => attach(limitBytes, `veo-${job.id}-1080p.mp4`) }),
      onTokenDead: () => this.deps.jobs.update(job.id, (j) => (j.hd ? { ...j, hd: { ...j.hd, token: null } } : j)),
      logFields: { jobId: job.id },
    });
    const outcome =
      url === null
        ? await this.deps.send.send(request(null))
        : await this.deps.downloads.using(url, (attach) => this.deps.send.send(request(attach)));
    if (url !== null && outcome.kind === 'transient' && outcome.error instanceof MediaRefusedError) {
      await this.deps.downloads.release(url);
      this.deps.logger.warn(
        { jobId: job.id, reason: outcome.error.reason, host: outcome.error.host },
        '1080P URL refused by the media fetch guard; nothing posted',
      );
      return this.#finish(job, hd, null, 'hd.refused');
    }
    if (outcome.kind === 'transient') {
      this.deps.logger.warn({ jobId: job.id, err: outcome.error }, 'could not show the 1080P result yet');
      // Retried on the next check rather than losing the result; the file is kept meanwhile.
      if (url !== null && this.deps.clock.now() - hd.at < HD_MAX_WAIT_MS * 6) {
        this.#schedule(job.id, this.deps.pollIntervalMs);
        return;
      }
    }
    if (outcome.kind === 'undeliverable') {
      this.deps.logger.warn({ jobId: job.id, reason: outcome.reason }, 'could not show the 1080P result');
    }
    if (url !== null) await this.deps.downloads.release(url);
    await this.deps.jobs.update(job.id, (j) => ({
      ...j,
      hd: j.hd ? { ...j.hd, state: url ? 'ready' : 'failed', url, token: null } : null,
    }));
    this.deps.logger.info({ jobId: job.id, taskId: job.taskId, ready: url !== null }, '1080P preparation finished');
  }
}
