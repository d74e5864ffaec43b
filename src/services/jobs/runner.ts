import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../logger.js';
import { renderFailure } from '../delivery/views.js';
import {
  describeKieError,
  describeKieFailure,
  KieError,
  KieOutcomeUnknownError,
  KiePausedError,
} from '../kie/errors.js';
import type { TaskInfo } from '../kie/types.js';
import type { TaskReader } from './callbacks.js';
import { durationKind } from './durations.js';
import type { DeliveryPort, DurationPort, KiePort, LimiterPort, QuotaPort } from './ports.js';
import { queueBucket } from './limiter.js';
import {
  DELIVERY_GIVE_UP_MS,
  GENERATION_TIMEOUT_MS,
  isFinal,
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
import { Exclusive, type JobSteps } from './steps.js';
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
 * with failures refunded once. Every step re-reads the record, so a timer firing late is harmless.
 */
export class JobRunner implements TaskReader {
  /** Jobs in their queued step, each with the abort that ends its wait at stop. */
  readonly #queued = new Map<string, AbortController>();
  readonly #polls = new Exclusive();
  /** The store lease rules out deliveries by other processes; this rules out a second one here. */
  readonly #deliveries = new Exclusive();
  readonly #random: () => number;
  /** Jobs accepted by this process while resume had not finished; see claim(). */
  readonly #claimed = new Set<string>();
  #resumed = false;

  constructor(private readonly deps: JobRunnerDeps) {
    this.#random = deps.random ?? Math.random;
  }

  /** Starts a job whose record exists and whose message has been deferred. */
  enqueue(job: JobRecord): void {
    // Resume and a fresh command can both hand over the same job once; it must run once.
    if (this.#queued.has(job.id)) return;
    this.deps.steps.run(job.id, () => this.#runQueued(job.id));
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
    const job = await this.deps.jobs.get(jobId);
    if (job?.state !== 'queued') return;
    await this.#fail(jobId, reason, null);
  }

  /** Picks up every job a previous process left moving (call only while holding the store lease). */
  async resume(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    const now = this.deps.clock.now();
    for (const job of await this.deps.jobs.active()) {
      if (this.#claimed.has(job.id)) continue;
      counts[job.state] = (counts[job.state] ?? 0) + 1;
      if (job.state === 'queued') {
        // Its pictures were never re-hosted and their Discord URLs are not kept: it cannot go on.
        if (job.options.imagesPending) this.deps.steps.run(job.id, () => this.#fail(job.id, 'image_interrupted', null));
        else this.enqueue(job);
      } else if (job.state === 'submitting') {
        // Resubmitting could charge twice: with no task id we cannot know, so we say so and refund.
        if (job.taskId === null) this.deps.steps.run(job.id, () => this.#fail(job.id, 'unknown_outcome', null));
        else this.readNow(job.id);
      } else if (job.state === 'generating') this.readNow(job.id);
      else if (job.state === 'delivering') this.deps.steps.run(job.id, () => this.#deliver(job.id));
      else if (stillPollingLate(job, now)) this.readNow(job.id);
      else await this.deps.jobs.update(job.id, (j) => j);
    }
    this.#resumed = true;
    this.#claimed.clear();
    this.deps.logger.info({ counts }, 'jobs resumed');
    return counts;
  }

  /** Reads the job's kie task now, in place of whatever step it had scheduled. */
  readNow(jobId: string): void {
    this.deps.steps.schedule(jobId, 0, () => this.#poll(jobId));
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

  #jittered(ms: number): number {
    return Math.round(ms * (0.9 + this.#random() * 0.2));
  }

  #log(job: JobRecord, from: JobState, extra: Record<string, unknown> = {}): void {
    this.deps.logger.info(
      {
        jobId: job.id,
        taskId: job.taskId,
        from,
        to: job.state,
        model: job.options.model,
        promptLength: job.options.prompt.length,
        ...extra,
      },
      'job transition',
    );
  }

  async #runQueued(id: string): Promise<void> {
    const { jobs, kie, limiter } = this.deps;
    const abort = new AbortController();
    this.#queued.set(id, abort);
    const unfollow = this.deps.statusEdits.follow(id);
    try {
      for (;;) {
        const job = await jobs.get(id);
        if (!job || job.state !== 'queued') return;
        try {
          await circuitClosed(kie.circuit, job.createdAt + QUEUE_TIMEOUT_MS - this.deps.clock.now(), abort.signal);
          const waiting = limiter.acquire(id, abort.signal, queueBucket(scopeOf(job)));
          if (limiter.position(id) !== null) this.deps.steps.run(id, () => this.deps.statusEdits.show(id));
          await waiting;
        } catch (error) {
          if (this.stopping) return;
          if (error instanceof QueueTimeoutError) await this.#fail(id, 'queue_timeout', null);
          else throw error;
          return;
        }
        const submitting = await jobs.update(id, (j) => ({ ...j, state: 'submitting' }));
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
        const generating = await jobs.update(id, (j) => ({
          ...j,
          state: 'generating',
          taskId,
          submittedAt: this.deps.clock.now(),
        }));
        this.#log(generating, 'submitting');
        await this.deps.quota.commit(scopeOf(generating), id);
        await this.deps.statusEdits.show(id);
        this.#pollIn(id, this.#jittered(this.#pollDelay()));
        return;
      }
    } finally {
      unfollow();
      this.#queued.delete(id);
    }
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
      await this.#fail(id, 'unknown_outcome', null);
      return;
    }
    const failure = describeKieError(error);
    await this.#fail(id, failure.reason, failure.policyText ?? null);
  }

  /** One read at a time per job: a callback landing mid-read asks for one more read right after. */
  async #poll(id: string): Promise<void> {
    if (await this.#polls.run(id, () => this.#pollOnce(id))) this.readNow(id);
  }

  #pollIn(id: string, delayMs: number): void {
    this.deps.steps.schedule(id, delayMs, () => this.#poll(id));
  }

  async #pollOnce(id: string): Promise<void> {
    const job = await this.deps.jobs.get(id);
    if (!job?.taskId) return;
    const now = this.deps.clock.now();
    const late = stillPollingLate(job, now);
    // A read scheduled over a pending delivery retry must not lose that retry.
    if (job.state === 'delivering') return this.#deliver(id);
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
      if (!late && job.submittedAt !== null) this.deps.durations?.record(durationKind(job), now - job.submittedAt);
      this.#log(delivering, job.state, { late });
      return this.#deliver(id);
    }
    if (info.status === 'failed') {
      if (late) {
        await this.deps.jobs.update(id, (j) => ({ ...j, lateUntil: null }));
        return;
      }
      const failure = describeKieFailure(info.errorCode, info.errorMessage);
      return this.#fail(id, failure.reason, failure.policyText ?? null);
    }
    return this.#afterPendingRead(job);
  }

  async #afterPendingRead(job: JobRecord): Promise<void> {
    const now = this.deps.clock.now();
    if (job.state === 'failed' || job.state === 'failed_unknown') {
      if (stillPollingLate(job, now)) this.#pollIn(job.id, LATE_POLL_MS);
      else await this.deps.jobs.update(job.id, (j) => ({ ...j, lateUntil: null }));
      return;
    }
    if (now - (job.submittedAt ?? job.createdAt) >= GENERATION_TIMEOUT_MS) {
      await this.#fail(job.id, 'timeout', null, now + LATE_WINDOW_MS);
      this.#pollIn(job.id, LATE_POLL_MS);
      return;
    }
    this.#pollIn(job.id, this.#jittered(this.#pollDelay()));
  }

  async #deliver(id: string): Promise<void> {
    await this.#deliveries.run(id, () => this.#deliverOnce(id));
  }

  async #deliverOnce(id: string): Promise<void> {
    const job = await this.deps.jobs.get(id);
    if (job?.state !== 'delivering') return;
    const outcome = await this.deps.delivery.deliver(job);
    const now = this.deps.clock.now();
    if (outcome.kind === 'delivered') {
      const done = await this.deps.jobs.update(id, (j) => ({
        ...j,
        state: 'delivered',
        finishedAt: now,
        deliveredMessageId: outcome.messageId,
        interaction: withoutToken(j),
      }));
      this.#log(done, 'delivering');
      await this.deps.quota.release(scopeOf(done), id);
      return;
    }
    if (outcome.kind === 'undeliverable') {
      await this.#undeliverable(id, outcome.reason);
      return;
    }
    if (outcome.kind === 'refused') {
      await this.#fail(id, 'media_refused', null);
      return;
    }
    const failing = await this.deps.jobs.update(id, (j) => ({
      ...j,
      deliveryFailures: j.deliveryFailures + 1,
      firstDeliveryFailureAt: j.firstDeliveryFailureAt ?? now,
    }));
    this.deps.logger.warn(
      { jobId: id, failures: failing.deliveryFailures, err: outcome.error },
      'delivery failed; retrying',
    );
    if (now - (failing.firstDeliveryFailureAt ?? now) >= DELIVERY_GIVE_UP_MS) {
      await this.#undeliverable(id, 'Discord refused delivery for 24 hours');
      return;
    }
    const base = this.deps.options.deliveryBackoffBaseMs ?? 5_000;
    const delay = Math.min(base * 2 ** Math.min(failing.deliveryFailures - 1, 10), 10 * 60_000);
    this.deps.steps.schedule(id, this.#jittered(delay), () => this.#deliver(id));
  }

  async #undeliverable(id: string, reason: string): Promise<void> {
    const job = await this.deps.jobs.update(id, (j) => ({
      ...j,
      state: 'undeliverable',
      finishedAt: this.deps.clock.now(),
      interaction: withoutToken(j),
    }));
    this.#log(job, 'delivering', { reason });
    this.deps.logger.warn({ jobId: id, taskId: job.taskId, reason }, 'video exists but could not be delivered');
    await this.deps.quota.release(scopeOf(job), id);
  }

  async #fail(
    id: string,
    reason: JobFailureReason,
    policyText: string | null,
    lateUntil: number | null = null,
  ): Promise<void> {
    const before = await this.deps.jobs.get(id);
    if (!before || isFinal(before)) return;
    const failed = await this.deps.jobs.update(id, (j) => ({
      ...j,
      state: reason === 'unknown_outcome' ? 'failed_unknown' : 'failed',
      failure: { reason, policyText },
      finishedAt: this.deps.clock.now(),
      lateUntil,
    }));
    this.deps.statusEdits.forget(id);
    this.#log(failed, before.state, { reason });
    await this.deps.quota.refund(scopeOf(failed), id);
    const refunded = await this.deps.jobs.update(id, (j) => ({ ...j, refunded: true }));
    try {
      await this.deps.delivery.showFailure(refunded, renderFailure(refunded));
    } catch (error) {
      this.deps.logger.warn({ jobId: id, err: error }, 'could not show the failure');
    }
    await this.deps.jobs.update(id, (j) => ({ ...j, interaction: withoutToken(j) }));
  }
}
