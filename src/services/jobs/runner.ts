import type { Clock } from '../../lib/clock.js';
import { KeyedLock } from '../../lib/keyedLock.js';
import type { Logger } from '../../logger.js';
import { renderFailure, renderStatus, statusKey } from '../delivery/views.js';
import {
  describeKieError,
  describeKieFailure,
  KieError,
  KieOutcomeUnknownError,
  KiePausedError,
} from '../kie/errors.js';
import type { ExtendRequest, GenerateRequest, TaskInfo } from '../kie/types.js';
import { durationKind } from './durations.js';
import type { DeliveryPort, DurationPort, KiePort, LimiterPort, QuotaPort } from './ports.js';
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
import type { JobStore } from './store.js';

/** Callback-triggered record-info reads of one job happen at most this often (DESIGN §7). */
export const CALLBACK_READ_GAP_MS = 5_000;

/** What a kie callback led to: a read now, nothing (coalesced, unknown, not moving), or an adoption. */
export type CallbackOutcome = 'read' | 'coalesced' | 'ignored' | 'unknown_task' | 'mismatch' | 'adopted';

export interface JobRunnerOptions {
  readonly pollIntervalMs: number;
  /** Status edits of one job are coalesced to at most one per this period (DESIGN §1.5). */
  readonly statusMinIntervalMs?: number;
  /** When callbacks are on, polling is only a safety net. */
  readonly callbackUrl?: ((jobId: string) => string) | undefined;
  readonly deliveryBackoffBaseMs?: number;
}

export interface JobRunnerDeps {
  readonly jobs: JobStore;
  readonly kie: KiePort;
  readonly quota: QuotaPort;
  readonly limiter: LimiterPort;
  readonly delivery: DeliveryPort;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random?: () => number;
  /** Recent generation times per kind of job, for the status's "expected" line (absent: none shown). */
  readonly durations?: DurationPort;
  readonly options: JobRunnerOptions;
}

class QueueTimeoutError extends Error {}

/**
 * The persisted state machine of DESIGN §4: queued -> submitting -> generating -> delivering -> delivered,
 * with failures refunded once. Every step re-reads the record, so a timer firing late is harmless.
 */
export class JobRunner {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #statusTimers = new Map<string, NodeJS.Timeout>();
  readonly #aborts = new Map<string, AbortController>();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #lastNudge = new Map<string, number>();
  readonly #polling = new Set<string>();
  readonly #pollAgain = new Set<string>();
  readonly #delivering = new Set<string>();
  readonly #lastStatus = new Map<string, { key: string; at: number }>();
  readonly #statusLock = new KeyedLock();
  /** Jobs waiting for the limiter: one listener refreshes them all, at most once per tick. */
  readonly #queued = new Set<string>();
  #queueRefresh: NodeJS.Immediate | null = null;
  readonly #unsubscribeQueue: () => void;
  readonly #statusMinIntervalMs: number;
  readonly #random: () => number;
  #stopping = false;
  /** Jobs accepted by this process while resume had not finished; see claim(). */
  readonly #claimed = new Set<string>();
  #resumed = false;

  constructor(private readonly deps: JobRunnerDeps) {
    this.#statusMinIntervalMs = deps.options.statusMinIntervalMs ?? 30_000;
    this.#random = deps.random ?? Math.random;
    this.#unsubscribeQueue = deps.limiter.onQueueChange(() => {
      this.#queueRefresh ??= setImmediate(() => {
        this.#queueRefresh = null;
        for (const id of this.#queued) if (this.#statusMayChange(id)) this.#track(id, () => this.#showStatus(id));
      });
    });
  }

  /** Starts a job whose record exists and whose message has been deferred. */
  enqueue(job: JobRecord): void {
    // Resume and a fresh command can both hand over the same job once; it must run once.
    if (this.#queued.has(job.id)) return;
    this.#track(job.id, () => this.#runQueued(job.id));
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
        if (job.options.imagesPending) this.#track(job.id, () => this.#fail(job.id, 'image_interrupted', null));
        else this.enqueue(job);
      } else if (job.state === 'submitting') {
        // Resubmitting could charge twice: with no task id we cannot know, so we say so and refund.
        if (job.taskId === null) this.#track(job.id, () => this.#fail(job.id, 'unknown_outcome', null));
        else this.#schedule(job.id, 0, () => this.#poll(job.id));
      } else if (job.state === 'generating') this.#schedule(job.id, 0, () => this.#poll(job.id));
      else if (job.state === 'delivering') this.#track(job.id, () => this.#deliver(job.id));
      else if (stillPollingLate(job, now)) this.#schedule(job.id, 0, () => this.#poll(job.id));
      else await this.deps.jobs.update(job.id, (j) => j);
    }
    this.#resumed = true;
    this.#claimed.clear();
    this.deps.logger.info({ counts }, 'jobs resumed');
    return counts;
  }

  /** A callback said this task moved: read it now, at most once per 5 s (DESIGN §7). */
  nudge(jobId: string): boolean {
    if (!this.#takeNudge(jobId)) return false;
    this.#schedule(jobId, 0, () => this.#poll(jobId));
    return true;
  }

  #takeNudge(jobId: string): boolean {
    const now = this.deps.clock.now();
    if (now - (this.#lastNudge.get(jobId) ?? 0) < CALLBACK_READ_GAP_MS) return false;
    this.#lastNudge.set(jobId, now);
    return true;
  }

  /**
   * A kie callback (DESIGN §4, §7): never trusted, only a reason to read record-info now. A task we do
   * not know is ignored unless `?job=` names a job that never heard its generate answer and record-info
   * shows our prompt: then the job adopts it, and a video it yields is delivered free.
   */
  async onCallback(taskId: string, jobParam: string | null): Promise<CallbackOutcome> {
    const outcome = await this.#callback(taskId, jobParam);
    this.deps.logger.info({ taskId, jobId: jobParam, outcome }, 'kie callback handled');
    return outcome;
  }

  async #callback(taskId: string, jobParam: string | null): Promise<CallbackOutcome> {
    const { jobs } = this.deps;
    if (this.#stopping) return 'ignored';
    const known = await jobs.jobIdForTask(taskId);
    if (known !== undefined) {
      const job = await jobs.get(known);
      if (!job || (job.state !== 'generating' && !stillPollingLate(job, this.deps.clock.now()))) return 'ignored';
      return this.nudge(known) ? 'read' : 'coalesced';
    }
    if (jobParam === null) return 'unknown_task';
    const job = await jobs.get(jobParam);
    const now = this.deps.clock.now();
    if (
      job?.state !== 'failed_unknown' ||
      job.taskId !== null ||
      now - job.createdAt > GENERATION_TIMEOUT_MS + LATE_WINDOW_MS
    ) {
      return 'unknown_task';
    }
    if (!this.#takeNudge(job.id)) return 'coalesced';
    let info: TaskInfo;
    try {
      info = await this.deps.kie.recordInfo(taskId);
    } catch (error) {
      this.deps.logger.warn({ jobId: job.id, taskId, err: error }, 'record-info for a callback to adopt failed');
      return 'unknown_task';
    }
    if (info.params?.prompt !== job.options.prompt) return 'mismatch';
    const guard = { adopted: false };
    await jobs.update(job.id, (j) => {
      if (j.state !== 'failed_unknown' || j.taskId !== null) return j;
      guard.adopted = true;
      return { ...j, taskId, lateUntil: now + LATE_WINDOW_MS };
    });
    if (!guard.adopted) return 'coalesced';
    this.deps.logger.warn(
      { jobId: job.id, taskId },
      'adopted a kie task whose generate answer was lost; a video will be delivered free',
    );
    this.#schedule(job.id, 0, () => this.#poll(job.id));
    return 'adopted';
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#unsubscribeQueue();
    if (this.#queueRefresh) clearImmediate(this.#queueRefresh);
    for (const timer of [...this.#timers.values(), ...this.#statusTimers.values()]) clearTimeout(timer);
    this.#timers.clear();
    this.#statusTimers.clear();
    for (const abort of this.#aborts.values()) abort.abort(new Error('shutting down'));
    await Promise.allSettled([...this.#inflight]);
  }

  /** Settles when nothing is running or scheduled; for tests and benchmarks. */
  get busy(): boolean {
    return this.#inflight.size > 0 || this.#timers.size > 0;
  }

  #track(jobId: string, work: () => Promise<void>): void {
    if (this.#stopping) return;
    const promise = work().catch((error: unknown) => {
      this.deps.logger.error({ jobId, err: error }, 'job step failed unexpectedly');
    });
    this.#inflight.add(promise);
    void promise.finally(() => this.#inflight.delete(promise));
  }

  #schedule(jobId: string, delayMs: number, work: () => Promise<void>): void {
    if (this.#stopping) return;
    const existing = this.#timers.get(jobId);
    if (existing) clearTimeout(existing);
    const timer = setTimeout(() => {
      this.#timers.delete(jobId);
      this.#track(jobId, work);
    }, delayMs);
    this.#timers.set(jobId, timer);
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
    this.#aborts.set(id, abort);
    this.#queued.add(id);
    try {
      for (;;) {
        const job = await jobs.get(id);
        if (!job || job.state !== 'queued') return;
        try {
          await this.#waitForCircuit(job, abort.signal);
          const waiting = limiter.acquire(id, abort.signal);
          if (limiter.position(id) !== null) this.#track(id, () => this.#showStatus(id));
          await waiting;
        } catch (error) {
          if (this.#stopping) return;
          if (error instanceof QueueTimeoutError) await this.#fail(id, 'queue_timeout', null);
          else throw error;
          return;
        }
        const submitting = await jobs.update(id, (j) => ({ ...j, state: 'submitting' }));
        this.#log(submitting, 'queued');
        let taskId: string;
        try {
          const { extend } = submitting.options;
          // An Extend job continues an earlier task; it is charged and limited like a generation.
          ({ taskId } = extend
            ? await kie.extend(this.#extendRequest(submitting, extend.taskId))
            : await kie.generate(this.#request(submitting)));
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
        await this.#showStatus(id);
        this.#schedule(id, this.#jittered(this.#pollDelay()), () => this.#poll(id));
        return;
      }
    } finally {
      this.#queued.delete(id);
      this.#aborts.delete(id);
    }
  }

  #request(job: JobRecord): GenerateRequest {
    const { options } = job;
    return {
      prompt: options.prompt,
      model: options.model,
      aspectRatio: options.aspectRatio,
      seed: options.seed ?? undefined,
      imageUrls: options.imageUrls.length > 0 ? options.imageUrls : undefined,
      callBackUrl: this.deps.options.callbackUrl?.(job.id),
    };
  }

  #extendRequest(job: JobRecord, sourceTaskId: string): ExtendRequest {
    const { options } = job;
    return {
      taskId: sourceTaskId,
      prompt: options.prompt,
      model: options.model,
      seed: options.seed ?? undefined,
      callBackUrl: this.deps.options.callbackUrl?.(job.id),
    };
  }

  #pollDelay(): number {
    const { pollIntervalMs, callbackUrl } = this.deps.options;
    return callbackUrl ? pollIntervalMs * 6 : pollIntervalMs;
  }

  async #waitForCircuit(job: JobRecord, signal: AbortSignal): Promise<void> {
    const { circuit } = this.deps.kie;
    if (!circuit.isOpen()) return;
    const deadline = job.createdAt + QUEUE_TIMEOUT_MS - this.deps.clock.now();
    if (deadline <= 0) throw new QueueTimeoutError();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(new QueueTimeoutError());
      }, deadline);
      const unsubscribe = circuit.onChange((state) => {
        if (state !== 'closed') return;
        done();
        resolve();
      });
      const onAbort = () => {
        done();
        reject(signal.reason as Error);
      };
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        signal.removeEventListener('abort', onAbort);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
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
    if (this.#polling.has(id)) {
      this.#pollAgain.add(id);
      return;
    }
    this.#polling.add(id);
    try {
      await this.#pollOnce(id);
    } finally {
      this.#polling.delete(id);
    }
    if (this.#pollAgain.delete(id)) this.#schedule(id, 0, () => this.#poll(id));
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
      this.#lastStatus.delete(id);
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
      if (stillPollingLate(job, now)) this.#schedule(job.id, LATE_POLL_MS, () => this.#poll(job.id));
      else await this.deps.jobs.update(job.id, (j) => ({ ...j, lateUntil: null }));
      return;
    }
    if (now - (job.submittedAt ?? job.createdAt) >= GENERATION_TIMEOUT_MS) {
      await this.#fail(job.id, 'timeout', null, now + LATE_WINDOW_MS);
      this.#schedule(job.id, LATE_POLL_MS, () => this.#poll(job.id));
      return;
    }
    this.#schedule(job.id, this.#jittered(this.#pollDelay()), () => this.#poll(job.id));
  }

  /** At most one delivery of a job at a time in this process (the store lease rules out other processes). */
  async #deliver(id: string): Promise<void> {
    if (this.#delivering.has(id)) return;
    this.#delivering.add(id);
    try {
      await this.#deliverOnce(id);
    } finally {
      this.#delivering.delete(id);
    }
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
    this.#schedule(id, this.#jittered(delay), () => this.#deliver(id));
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
    this.#lastStatus.delete(id);
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

  /** Serialised per job, and gated in memory first so a moving queue does not read every record. */
  async #showStatus(id: string): Promise<void> {
    await this.#statusLock.run(id, async () => {
      const position = this.deps.limiter.position(id);
      const shown = this.#lastStatus.get(id);
      if (position !== null && shown?.key === `queued:${position}`) return;
      if (shown && this.#deferStatus(id, shown.at)) return;
      const job = await this.deps.jobs.get(id);
      if (!job || (job.state !== 'queued' && job.state !== 'generating')) return;
      const key = statusKey(job, { position });
      const last = shown ?? job.status;
      if (last?.key === key) return;
      if (last && this.#deferStatus(id, last.at)) return;
      const status = { key, at: this.deps.clock.now() };
      this.#lastStatus.set(id, status);
      const recorded = await this.deps.jobs.update(id, (j) => ({ ...j, status }));
      try {
        const expectedMs = this.deps.durations?.median(durationKind(recorded)) ?? null;
        await this.deps.delivery.updateJobMessage(recorded, renderStatus(recorded, { position, expectedMs }));
      } catch (error) {
        this.deps.logger.warn({ jobId: id, err: error }, 'status edit failed');
      }
    });
  }

  /**
   * The in-memory gate of #showStatus, run synchronously for every waiting job on every queue change:
   * with a thousand jobs queued, a promise per job per change was most of the bot's garbage.
   */
  #statusMayChange(id: string): boolean {
    const shown = this.#lastStatus.get(id);
    if (!shown) return true;
    if (shown.key === `queued:${this.deps.limiter.position(id) ?? 0}`) return false;
    return !this.#deferStatus(id, shown.at);
  }

  /** true when the last edit is too recent: one trailing edit is scheduled instead. */
  #deferStatus(id: string, lastAt: number): boolean {
    const wait = lastAt + this.#statusMinIntervalMs - this.deps.clock.now();
    if (wait <= 0) return false;
    if (!this.#statusTimers.has(id) && !this.#stopping) {
      this.#statusTimers.set(
        id,
        setTimeout(() => {
          this.#statusTimers.delete(id);
          this.#track(id, () => this.#showStatus(id));
        }, wait),
      );
    }
    return true;
  }
}
