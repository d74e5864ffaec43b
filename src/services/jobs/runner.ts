import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../logger.js';
import {
  describeKieError,
  describeKieFailure,
  KieError,
  KieOutcomeUnknownError,
  KiePausedError,
} from '../kie/errors.js';
import type { TaskInfo } from '../kie/types.js';
import type { QuotaScope } from '../quota/ledger.js';
import type { TaskReader } from './callbacks.js';
import { durationKind } from './durations.js';
import { JobEndings } from './endings.js';
import type { DeliveryPort, DurationPort, KiePort, LimiterPort, QuotaPort } from './ports.js';
import { queueBucket } from './limiter.js';
import {
  GENERATION_TIMEOUT_MS,
  isFinal,
  isSettled,
  LATE_POLL_MS,
  LATE_WINDOW_MS,
  QUEUE_TIMEOUT_MS,
  scopeOf,
  stillPollingLate,
  withoutToken,
  type JobFailureReason,
  type JobRecord,
  type JobState,
} from './record.js';
import type { StatusEdits } from './statusEdits.js';
import { DEADLINE_LANE, Exclusive, STATUS_LANE, type JobSteps } from './steps.js';
import type { JobStore } from './store.js';
import { circuitClosed, extendRequest, generateRequest, QueueTimeoutError } from './submission.js';

export interface JobRunnerOptions {
  readonly pollIntervalMs: number;
  /** When callbacks are on, polling is only a safety net. */
  readonly callbackUrl?: ((jobId: string) => string) | undefined;
  readonly deliveryBackoffBaseMs?: number;
}

export interface JobRunnerDeps {
  readonly jobs: JobStore;
  readonly kie: KiePort;
  readonly quota: QuotaPort;
  readonly limiter: Pick<LimiterPort, 'acquire' | 'position'>;
  readonly delivery: Pick<DeliveryPort, 'deliver' | 'showFailure'>;
  readonly steps: JobSteps;
  readonly statusEdits: StatusEdits;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random?: () => number;
  /** Where each generation's time is recorded, for the status's "expected" line. */
  readonly durations?: Pick<DurationPort, 'record'> | undefined;
  readonly options: JobRunnerOptions;
}

/**
 * The persisted state machine of DESIGN §4: queued -> submitting -> generating -> delivering -> delivered,
 * with failures refunded once. Every step re-reads the record, so a timer firing late is harmless; a step
 * that throws runs again with backoff as `#advance`, which finds the job's next step from its record and
 * from what this process learnt but could not write yet (a task id, a sent result, a decided failure).
 */
export class JobRunner implements TaskReader {
  /** Jobs in their queued step, each with the abort that ends its wait at stop. */
  readonly #queued = new Map<string, AbortController>();
  readonly #polls = new Exclusive();
  readonly #random: () => number;
  /** Jobs accepted by this process while resume had not finished; see claim(). */
  readonly #claimed = new Set<string>();
  /** Generate answered but the record does not say so yet: kept until it does (DESIGN §4). */
  readonly #submitted = new Map<string, { readonly taskId: string; readonly at: number }>();
  /** The job message id from the defer, written by the queued step when acceptJob could not. */
  readonly #messageIds = new Map<string, string>();
  readonly #endings: JobEndings;
  #resumed = false;

  constructor(private readonly deps: JobRunnerDeps) {
    this.#random = deps.random ?? Math.random;
    this.#endings = new JobEndings({
      ...deps,
      again: (id) => this.#advance(id),
      pollLate: (id) => this.#pollIn(id, LATE_POLL_MS),
      jittered: (ms) => this.#jittered(ms),
    });
  }

  /** Starts a job whose record exists and whose message has been deferred. */
  enqueue(job: JobRecord): void {
    if (job.messageId !== null) this.#messageIds.set(job.id, job.messageId);
    // Resume and a fresh command can both hand over the same job once; it must run once.
    if (this.#queued.has(job.id)) return;
    void this.#step(job.id, () => this.#runQueued(job.id));
  }

  /**
   * Marks a job this process is accepting, before its record exists: a resume still running at startup
   * must leave it to its command (an animate job is still having its pictures re-hosted).
   */
  claim(jobId: string): void {
    if (!this.#resumed) this.#claimed.add(jobId);
  }

  /** Ends a queued job that never reached kie (its pictures could not be prepared): shown, refunded, no generate. */
  async failBeforeSubmit(jobId: string, reason: JobFailureReason): Promise<void> {
    await this.#step(jobId, () => this.#endings.fail(jobId, reason, null));
  }

  /**
   * Ends a job whose interaction was never acknowledged (its defer failed, or the store did not answer in
   * time): nobody waits on it, so it is failed without a message, its token dropped and its units given
   * back, retried until the store takes it.
   */
  abandon(jobId: string, scope: QuotaScope): void {
    void this.deps.steps.run(jobId, () => this.#endings.abandon(jobId, scope));
  }

  /** Picks up every job a previous process left moving (call only while holding the store lease). */
  async resume(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const job of await this.deps.jobs.active()) {
      if (this.#claimed.has(job.id)) continue;
      counts[job.state] = (counts[job.state] ?? 0) + 1;
      if (job.state === 'queued') {
        // Its pictures were never re-hosted and their Discord URLs are not kept: it cannot go on.
        if (job.options.imagesPending) void this.failBeforeSubmit(job.id, 'image_interrupted');
        else this.enqueue(job);
      } else if (job.state === 'submitting' && job.taskId === null) {
        // Resubmitting could charge twice: with no task id we cannot know, so we say so and refund.
        void this.failBeforeSubmit(job.id, 'unknown_outcome');
      } else {
        // A deadline that passed while no process ran waits for one read: the video may be ready.
        if (job.state === 'generating' || job.state === 'submitting') this.#watchDeadline(job, this.#pollDelay());
        void this.#step(job.id, () => this.#advance(job.id));
      }
    }
    this.#resumed = true;
    this.#claimed.clear();
    this.deps.logger.info({ counts }, 'jobs resumed');
    return counts;
  }

  /** Reads the job's kie task now, in place of whatever step it had scheduled. */
  readNow(jobId: string): void {
    this.#later(jobId, 0, () => this.#poll(jobId));
  }

  get stopping(): boolean {
    return this.deps.steps.stopping;
  }

  /** Ends every job step of this process: scheduled ones are dropped, running ones awaited. */
  async stop(): Promise<void> {
    const settled = this.deps.steps.stop();
    this.deps.statusEdits.stop();
    for (const abort of this.#queued.values()) abort.abort(new Error('shutting down'));
    await settled;
  }

  /** Settles when nothing is running or scheduled; for tests and benchmarks. */
  get busy(): boolean {
    return this.deps.steps.busy;
  }

  /** A step in the job's own lane; if it throws, the job's next step is found again after the backoff. */
  #step(id: string, work: () => Promise<void>): Promise<void> {
    return this.deps.steps.run(id, work, { again: () => this.#advance(id) });
  }

  #later(id: string, delayMs: number, work: () => Promise<void>): void {
    this.deps.steps.schedule(id, delayMs, work, { again: () => this.#advance(id) });
  }

  /** The job's next step, from its record and from what this process knows but has not written yet. */
  async #advance(id: string): Promise<void> {
    const job = await this.deps.jobs.get(id);
    if (!job) {
      this.#forget(id);
      return;
    }
    if (this.#endings.failing(id) && !isFinal(job)) return this.#endings.recordFailure(id);
    if (job.state === 'queued') {
      // An animate job still having its pictures prepared is its command's, not ours.
      if (!job.options.imagesPending) await this.#runQueued(id);
    } else if (job.state === 'submitting') {
      // Without a task id in memory, generate is still on the wire (or resume already judged it).
      if (this.#submitted.has(id)) await this.#recordSubmission(id);
    } else if (job.state === 'generating') await this.#poll(id);
    else if (job.state === 'delivering') await this.#endings.deliver(id);
    else if (job.noticePending === true) await this.#endings.settleFailure(id);
    else if (stillPollingLate(job, this.deps.clock.now())) await this.#poll(id);
    else if (isSettled(job, this.deps.clock.now())) {
      // Still indexed (a write that dropped it was lost): this write drops it, and any token left.
      await this.deps.jobs.update(id, (j) => ({ ...j, interaction: withoutToken(j) }));
    }
  }

  #forget(id: string): void {
    this.#submitted.delete(id);
    this.#messageIds.delete(id);
    this.#endings.forget(id);
    this.deps.steps.cancel(id, DEADLINE_LANE);
  }

  #jittered(ms: number): number {
    return Math.round(ms * (0.9 + this.#random() * 0.2));
  }

  #log(job: JobRecord, from: JobState, extra: Record<string, unknown> = {}): void {
    this.#endings.log(job, from, extra);
  }

  async #runQueued(id: string): Promise<void> {
    if (this.#queued.has(id)) return;
    const { jobs, kie, limiter } = this.deps;
    const abort = new AbortController();
    this.#queued.set(id, abort);
    const unfollow = this.deps.statusEdits.follow(id);
    try {
      for (;;) {
        const job = await jobs.get(id);
        if (!job || job.state !== 'queued') return;
        const messageId = this.#messageIds.get(id);
        if (messageId !== undefined && job.messageId !== messageId) await jobs.update(id, (j) => ({ ...j, messageId }));
        this.#messageIds.delete(id);
        try {
          await circuitClosed(kie.circuit, job.createdAt + QUEUE_TIMEOUT_MS - this.deps.clock.now(), abort.signal);
          const waiting = limiter.acquire(id, abort.signal, queueBucket(scopeOf(job)));
          if (limiter.position(id) !== null) this.#showStatus(id);
          await waiting;
        } catch (error) {
          if (this.stopping) return;
          if (error instanceof QueueTimeoutError) await this.#endings.fail(id, 'queue_timeout', null);
          else throw error;
          return;
        }
        const submitting = await jobs.update(id, (j) => (j.state === 'queued' ? { ...j, state: 'submitting' } : j));
        if (submitting.state !== 'submitting') return;
        this.#log(submitting, 'queued');
        let taskId: string;
        try {
          const { extend } = submitting.options;
          const callBackUrl = this.deps.options.callbackUrl?.(id);
          // An Extend job continues an earlier task; it is charged and limited like a generation.
          ({ taskId } = extend
            ? await kie.extend(extendRequest(submitting, extend.taskId, callBackUrl))
            : await kie.generate(generateRequest(submitting, callBackUrl)));
        } catch (error) {
          if (error instanceof KiePausedError) {
            await jobs.update(id, (j) => ({ ...j, state: 'queued' }));
            continue;
          }
          await this.#failGenerate(id, error);
          return;
        }
        this.#submitted.set(id, { taskId, at: this.deps.clock.now() });
        await this.#recordSubmission(id);
        return;
      }
    } finally {
      unfollow();
      this.#queued.delete(id);
    }
  }

  /**
   * Writes the task id generate answered with. Retried before anything else happens to the job: the
   * task exists (and kie bills it) whether or not the record says so.
   */
  async #recordSubmission(id: string): Promise<void> {
    const submitted = this.#submitted.get(id);
    if (!submitted) return;
    const job = await this.deps.jobs.get(id);
    if (!job) return this.#forget(id);
    // Spent before the record moves on: a restart that finds `submitting` refunds it, so it is never lost.
    await this.deps.quota.commit(scopeOf(job), id);
    const guard = { moved: false };
    const generating = await this.deps.jobs.update(id, (j) => {
      if (j.state !== 'submitting') return j;
      guard.moved = true;
      return { ...j, state: 'generating', taskId: submitted.taskId, submittedAt: submitted.at };
    });
    this.#submitted.delete(id);
    this.#messageIds.delete(id);
    if (!guard.moved) return;
    this.#log(generating, 'submitting');
    this.#showStatus(id);
    this.#watchDeadline(generating);
    this.#pollIn(id, this.#jittered(this.#pollDelay()));
  }

  #showStatus(id: string): void {
    void this.deps.steps.run(id, () => this.deps.statusEdits.show(id), { lane: STATUS_LANE });
  }

  /** The 30-minute generation deadline runs on its own timer, whatever happens to the polls. */
  #watchDeadline(job: JobRecord, notBeforeMs = 0): void {
    const at = (job.submittedAt ?? job.createdAt) + GENERATION_TIMEOUT_MS;
    const delay = Math.max(notBeforeMs, at - this.deps.clock.now());
    this.deps.steps.schedule(job.id, delay, () => this.#onDeadline(job.id), {
      lane: DEADLINE_LANE,
    });
  }

  /** Retried as itself: the deadline has passed, so a retry must fail the job, never poll it. */
  async #onDeadline(id: string): Promise<void> {
    const job = await this.deps.jobs.get(id);
    if (!job) return this.#forget(id);
    if (job.noticePending === true) return this.#endings.settleFailure(id);
    if (this.#endings.failing(id)) return this.#endings.recordFailure(id);
    if (job.state !== 'generating' && job.state !== 'submitting') return;
    await this.#endings.fail(id, 'timeout', null, this.deps.clock.now() + LATE_WINDOW_MS);
  }

  #pollDelay(): number {
    const { pollIntervalMs, callbackUrl } = this.deps.options;
    return callbackUrl ? pollIntervalMs * 6 : pollIntervalMs;
  }

  async #failGenerate(id: string, error: unknown): Promise<void> {
    if (error instanceof KieOutcomeUnknownError || !(error instanceof KieError)) {
      this.deps.logger.error(
        { jobId: id, err: error },
        'generate outcome unknown: kie may have created (and charged) a task; the job was refunded',
      );
      await this.#endings.fail(id, 'unknown_outcome', null);
      return;
    }
    const failure = describeKieError(error);
    await this.#endings.fail(id, failure.reason, failure.policyText ?? null);
  }

  /** One read at a time per job: a callback landing mid-read asks for one more read right after. */
  async #poll(id: string): Promise<void> {
    if (await this.#polls.run(id, () => this.#pollOnce(id))) this.readNow(id);
  }

  #pollIn(id: string, delayMs: number): void {
    this.#later(id, delayMs, () => this.#poll(id));
  }

  async #pollOnce(id: string): Promise<void> {
    const job = await this.deps.jobs.get(id);
    if (!job?.taskId) return;
    const now = this.deps.clock.now();
    const late = stillPollingLate(job, now);
    // A read scheduled over a pending delivery retry (or a failure notice) must not lose it.
    if (job.state === 'delivering') return this.#endings.deliver(id);
    if (job.noticePending === true) return this.#endings.settleFailure(id);
    if (job.state !== 'generating' && !late) return;
    let info: TaskInfo;
    try {
      info = await this.deps.kie.recordInfo(job.taskId);
    } catch (error) {
      this.deps.logger.warn({ jobId: id, taskId: job.taskId, err: error }, 'record-info failed; will ask again');
      return this.#afterPendingRead(job);
    }
    if (info.status === 'succeeded') {
      const urls = info.fullResultUrls.length > 0 ? info.fullResultUrls : info.resultUrls;
      this.deps.statusEdits.forget(id);
      const guard = { moved: false };
      const delivering = await this.deps.jobs.update(id, (j) => {
        if (j.state !== job.state) return j;
        guard.moved = true;
        return { ...j, state: 'delivering', resultUrls: urls, late, lateUntil: null };
      });
      if (!guard.moved) return;
      this.deps.steps.cancel(id, DEADLINE_LANE);
      if (!late && job.submittedAt !== null) this.deps.durations?.record(durationKind(job), now - job.submittedAt);
      this.#log(delivering, job.state, { late });
      return this.#endings.deliver(id);
    }
    if (info.status === 'failed') {
      if (late) {
        await this.deps.jobs.update(id, (j) => ({ ...j, lateUntil: null }));
        return;
      }
      const failure = describeKieFailure(info.errorCode, info.errorMessage);
      return this.#endings.fail(id, failure.reason, failure.policyText ?? null);
    }
    return this.#afterPendingRead(job);
  }

  async #afterPendingRead(job: JobRecord): Promise<void> {
    if (job.state === 'failed' || job.state === 'failed_unknown') {
      if (stillPollingLate(job, this.deps.clock.now())) this.#pollIn(job.id, LATE_POLL_MS);
      else await this.deps.jobs.update(job.id, (j) => ({ ...j, lateUntil: null }));
      return;
    }
    this.#pollIn(job.id, this.#jittered(this.#pollDelay()));
  }
}
