import type { MessageKey } from '../../i18n/index.js';
import type { Clock } from '../../lib/clock.js';
import { formatBytes } from '../../lib/format.js';
import type { Logger } from '../../logger.js';
import { upgradeOf, withUpgrade, type HdState, type JobRecord, type UpgradeName } from '../jobs/record.js';
import { STEP_RETRY_BASE_MS, STEP_RETRY_MAX_MS } from '../jobs/steps.js';
import type { JobStore } from '../jobs/store.js';
import type { HdResult } from '../kie/types.js';
import { upgradeSpendId } from '../quota/credits.js';
import type { QuotaScope } from '../quota/ledger.js';
import { MediaRefusedError } from '../runtime/fetchGuard.js';
import type { Attach, KeptDownloads } from './keptDownloads.js';
import { TOKEN_LIFETIME_MS } from './limits.js';
import type { SendLadder, SendRequest, SendTarget } from './send.js';
import { renderNotice } from './views.js';

export const HD_MAX_WAIT_MS = 10 * 60_000;
export const UHD_MAX_WAIT_MS = 20 * 60_000;
/** kie serves a task (and so upgrades it) for 14 days only (kie-veo-api.md §2, §6). */
export const UPGRADE_MAX_AGE_MS = 14 * 24 * 60 * 60_000;

export type HdClaim =
  | { readonly kind: 'claimed'; readonly job: JobRecord }
  | { readonly kind: 'already' }
  | { readonly kind: 'ready'; readonly url: string }
  | { readonly kind: 'not_ready' }
  | { readonly kind: 'too_old' }
  | { readonly kind: 'missing' };

export interface HdClick {
  readonly interactionId: string;
  readonly token: string;
  readonly channelId: string;
  readonly userId: string;
  readonly attachmentSizeLimit: number | null;
  /** The clicker's language: the upgrade's reply is theirs. */
  readonly locale?: string;
}

/** One click's charge: its spend id names the credits (and a 4K's units), held in the clicker's scope. */
export interface UpgradeSpend {
  readonly id: string;
  readonly scope: QuotaScope;
}

/** How an upgrade's charge follows kie's answers (DESIGN §5, §8). Every step is idempotent. */
export interface UpgradeCharge {
  /** kie took the call: it answered with anything but an error. */
  accepted(spend: UpgradeSpend): Promise<void>;
  /** kie refused or failed it: nothing was made. */
  refused(spend: UpgradeSpend): Promise<void>;
  /** Nothing reached the member although kie may have made it: we stopped waiting, or its file was refused. */
  abandoned(spend: UpgradeSpend): Promise<void>;
  /** The file, or its link, was handed over. */
  delivered(spend: UpgradeSpend): Promise<void>;
}

/** One kind of upgrade: the record field and button it belongs to, kie's call for it, and its charge. */
export interface UpgradeKind {
  readonly name: UpgradeName;
  /** kie's answer for the job's task; "processing" is an answer, an error is kie refusing. */
  readonly request: (taskId: string, job: JobRecord) => Promise<HdResult>;
  /** How long to wait before asking again while kie says "processing". */
  readonly pollIntervalMs: number;
  readonly maxWaitMs: number;
  readonly charge?: UpgradeCharge;
}

/** What each upgrade's reply says. */
const TEXT: Readonly<Record<UpgradeName, Readonly<Record<'file' | 'tooLarge' | 'failed' | 'refused', MessageKey>>>> = {
  '1080p': { file: 'hd.ready_file', tooLarge: 'hd.too_large', failed: 'hd.failed', refused: 'hd.refused' },
  '4k': { file: 'uhd.ready_file', tooLarge: 'uhd.too_large', failed: 'uhd.failed', refused: 'uhd.refused' },
};

const LABELS: Readonly<Record<UpgradeName, string>> = { '1080p': '1080P', '4k': '4K' };

export interface HdServiceDeps {
  readonly kind: UpgradeKind;
  readonly jobs: JobStore;
  readonly send: SendLadder;
  readonly downloads: KeptDownloads;
  readonly clock: Clock;
  readonly logger: Logger;
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
 * One upgrade button (1080P or 4K, DESIGN §5): one preparation per job, re-checked while kie says
 * "processing", delivered once as the edit of the click's deferred reply through the send ladder,
 * resumable from the record after a restart.
 */
export class UpgradeService {
  readonly #timers = new Map<string, { readonly timer: NodeJS.Timeout; readonly dueAt: number }>();
  readonly #inflight = new Set<Promise<void>>();
  /** Jobs whose check is running now: resume must not start a second one beside it. */
  readonly #checking = new Set<string>();
  readonly #missed = new Set<string>();
  /** Consecutive failed checks per job (a store error): the next one waits longer. */
  readonly #failures = new Map<string, number>();
  readonly #kind: UpgradeKind;
  readonly #label: string;
  #stopping = false;

  constructor(private readonly deps: HdServiceDeps) {
    this.#kind = deps.kind;
    this.#label = LABELS[deps.kind.name];
  }

  get name(): UpgradeName {
    return this.#kind.name;
  }

  /** The clicker's charge for this click: its spend id, held in the job's server under the clicker. */
  spendOf(job: Pick<JobRecord, 'id' | 'guildId'>, click: Pick<HdClick, 'interactionId' | 'userId'>): UpgradeSpend {
    return {
      id: upgradeSpendId(this.#kind.name, job.id, click.interactionId),
      scope: { guildId: job.guildId, userId: click.userId },
    };
  }

  /** Reads the state and, when nobody is preparing it, takes the preparation in the same locked write. */
  async claim(jobId: string, click: HdClick): Promise<HdClaim> {
    const { name, maxWaitMs } = this.#kind;
    const job = await this.deps.jobs.get(jobId);
    if (!job) return { kind: 'missing' };
    // The button is on the result itself: a click while the record still says `delivering` (the edit
    // reached Discord, its write had not yet, or a restart is still confirming it) is a click on a video.
    if ((job.state !== 'delivered' && job.state !== 'delivering') || !job.taskId) return { kind: 'not_ready' };
    if (this.deps.clock.now() - (job.submittedAt ?? job.createdAt) > UPGRADE_MAX_AGE_MS) return { kind: 'too_old' };
    const outcome: { value: HdClaim } = { value: { kind: 'already' } };
    const updated = await this.deps.jobs.update(jobId, (j) => {
      const hd = upgradeOf(j, name);
      if (hd?.state === 'ready' && hd.url) {
        outcome.value = { kind: 'ready', url: hd.url };
        return j;
      }
      if (hd?.state === 'preparing' && this.deps.clock.now() - hd.at < maxWaitMs + TOKEN_LIFETIME_MS) return j;
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
      return withUpgrade(j, name, next);
    });
    return outcome.value.kind === 'claimed' ? { kind: 'claimed', job: updated } : outcome.value;
  }

  /** Gives the preparation back when this click could not even be answered (never another click's). */
  async release(jobId: string, interactionId: string): Promise<void> {
    const { name } = this.#kind;
    await this.deps.jobs.update(jobId, (j) =>
      upgradeOf(j, name)?.interactionId === interactionId ? withUpgrade(j, name, null) : j,
    );
  }

  async start(jobId: string, replyMessageId: string | null): Promise<void> {
    const { name } = this.#kind;
    // Scheduled first: the click was answered, so a failed write must not leave the preparation waiting.
    this.#schedule(jobId, 0);
    try {
      await this.deps.jobs.update(jobId, (j) => {
        const hd = upgradeOf(j, name);
        return hd ? withUpgrade(j, name, { ...hd, replyMessageId }) : j;
      });
    } catch (error) {
      // Only a bot-token edit after the click token's 15 minutes needs it; the token path does not.
      this.deps.logger.warn({ jobId, err: error }, `could not record the ${this.#label} reply message`);
    }
  }

  /** kie said (by callback) that this job's upgrade moved: ask now instead of at the next check. */
  nudge(jobId: string): void {
    this.#schedule(jobId, 0);
  }

  async resume(): Promise<number> {
    const preparing = await this.deps.jobs.upgradesPreparing(this.#kind.name);
    // A click claimed during start-up was scheduled by start() already: one check, not two.
    const waiting = preparing.filter((job) => !this.#timers.has(job.id) && !this.#checking.has(job.id));
    for (const job of waiting) this.#schedule(job.id, 0);
    return waiting.length;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.allSettled([...this.#inflight]);
  }

  #schedule(jobId: string, delayMs: number): void {
    if (this.#stopping) return;
    // One timer per job, the earliest asked for: a click claimed while resume runs is scheduled by both
    // start() and resume(), and a callback's "now" must not be pushed back by the check that was running.
    const dueAt = Date.now() + delayMs;
    const existing = this.#timers.get(jobId);
    if (existing && existing.dueAt <= dueAt) return;
    if (existing) clearTimeout(existing.timer);
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
          this.deps.logger.warn({ jobId, failures, retryInMs, err: error }, `${this.#label} step failed; trying again`);
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
    this.#timers.set(jobId, { timer, dueAt });
  }

  async #check(jobId: string): Promise<void> {
    const job = await this.deps.jobs.get(jobId);
    const hd = job ? upgradeOf(job, this.#kind.name) : null;
    if (!job?.taskId || hd?.state !== 'preparing') return;
    const spend = this.spendOf(job, { interactionId: hd.interactionId, userId: hd.requesterId });
    let result: HdResult;
    try {
      result = await this.#kind.request(job.taskId, job);
    } catch (error) {
      this.deps.logger.warn({ jobId, taskId: job.taskId, err: error }, `${this.#label} request refused`);
      result = { state: 'failed' };
    }
    if (result.state === 'failed') {
      await this.#charge('refused', spend);
      return this.#finish(job, hd, null, spend);
    }
    await this.#charge('accepted', spend);
    if (result.state === 'processing') {
      if (this.deps.clock.now() - hd.at >= this.#kind.maxWaitMs) {
        await this.#charge('abandoned', spend);
        return this.#finish(job, hd, null, spend);
      }
      this.#schedule(jobId, this.#kind.pollIntervalMs);
      return;
    }
    return this.#finish(job, hd, result.url, spend);
  }

  /** Bookkeeping of the charge must never strand a preparation: a failure is logged, start-up reconciles it. */
  async #charge(step: keyof UpgradeCharge, spend: UpgradeSpend): Promise<void> {
    try {
      await this.#kind.charge?.[step](spend);
    } catch (error) {
      this.deps.logger.warn({ spendId: spend.id, err: error }, `could not record the ${this.#label} charge (${step})`);
    }
  }

  async #finish(
    job: JobRecord,
    hd: HdState,
    url: string | null,
    spend: UpgradeSpend,
    failure: 'failed' | 'refused' = 'failed',
  ): Promise<void> {
    const { name, maxWaitMs, pollIntervalMs } = this.#kind;
    const text = TEXT[name];
    const locale = hd.locale ?? job.locale;
    const request = (attach: Attach | null): SendRequest => ({
      target: targetOf(job, hd),
      view: ({ attached, limitBytes }) => {
        if (url === null) return renderNotice(locale, text[failure]);
        if (attached) return renderNotice(locale, text.file);
        return renderNotice(locale, text.tooLarge, { limit: formatBytes(limitBytes), url });
      },
      ...(attach === null ? {} : { file: (limitBytes: number) => attach(limitBytes, `veo-${job.id}-${name}.mp4`) }),
      onTokenDead: () =>
        this.deps.jobs.update(job.id, (j) => {
          const current = upgradeOf(j, name);
          return current ? withUpgrade(j, name, { ...current, token: null }) : j;
        }),
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
        `${this.#label} URL refused by the media fetch guard; nothing posted`,
      );
      await this.#charge('abandoned', spend);
      return this.#finish(job, hd, null, spend, 'refused');
    }
    if (outcome.kind === 'transient') {
      this.deps.logger.warn({ jobId: job.id, err: outcome.error }, `could not show the ${this.#label} result yet`);
      // Retried on the next check rather than losing the result; the file is kept meanwhile.
      if (url !== null && this.deps.clock.now() - hd.at < maxWaitMs * 6) {
        this.#schedule(job.id, pollIntervalMs);
        return;
      }
    }
    if (outcome.kind === 'undeliverable') {
      this.deps.logger.warn({ jobId: job.id, reason: outcome.reason }, `could not show the ${this.#label} result`);
    }
    if (url !== null) await this.deps.downloads.release(url);
    await this.deps.jobs.update(job.id, (j) => {
      const current = upgradeOf(j, name);
      return current ? withUpgrade(j, name, { ...current, state: url ? 'ready' : 'failed', url, token: null }) : j;
    });
    // The link stays on record (a later click gets it) even when Discord would not show the file.
    if (url !== null) await this.#charge('delivered', spend);
    this.deps.logger.info(
      { jobId: job.id, taskId: job.taskId, ready: url !== null },
      `${this.#label} preparation finished`,
    );
  }
}
