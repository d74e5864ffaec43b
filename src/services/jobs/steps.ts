import type { Logger } from '../../logger.js';

/** A step that throws is run again after this, doubling per failure up to the maximum (DESIGN §4). */
export const STEP_RETRY_BASE_MS = 1_000;
export const STEP_RETRY_MAX_MS = 60_000;

export interface StepOptions {
  /** What runs, after the backoff, when the step throws (default: the step itself). */
  readonly again?: () => Promise<void>;
  /**
   * Steps of one lane replace each other's scheduled run; other lanes (a status edit, the generation
   * deadline) keep theirs. Default: the job's own lane.
   */
  readonly lane?: string;
}

export interface JobStepsOptions {
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
}

const JOB_LANE = 'job';
/** Status edits: their retries never replace the job's next poll or delivery. */
export const STATUS_LANE = 'status';
/** The 30-minute generation deadline, on its own timer. */
export const DEADLINE_LANE = 'deadline';

/**
 * Every step a job has running or scheduled in this process (submit, poll, deliver, status edit, failure
 * notice), so that stop() can cancel the scheduled ones and wait for the running ones. A step that throws
 * (a store error, a bug, anything) is never dropped: it runs again with backoff until it succeeds, so no
 * job is stranded while the process lives (DESIGN §4). After stop nothing new starts.
 */
export class JobSteps {
  /** One scheduled step per job and lane: scheduling another replaces it. */
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #running = new Set<Promise<unknown>>();
  /** Consecutive failures per job and lane; cleared by the next success. */
  readonly #failures = new Map<string, number>();
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  #stopping = false;

  constructor(
    private readonly logger: Logger,
    options: JobStepsOptions = {},
  ) {
    this.#retryBaseMs = options.retryBaseMs ?? STEP_RETRY_BASE_MS;
    this.#retryMaxMs = options.retryMaxMs ?? STEP_RETRY_MAX_MS;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Settles when nothing is running or scheduled; for tests and benchmarks. */
  get busy(): boolean {
    return this.#running.size > 0 || this.#timers.size > 0;
  }

  /**
   * Runs a step now. It never throws: a failure is logged and the step (or `again`) is scheduled after
   * the backoff. The promise settles when this attempt has ended.
   */
  run(jobId: string, work: () => Promise<void>, options: StepOptions = {}): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    const key = laneKey(jobId, options.lane);
    const promise = work().then(
      () => {
        this.#failures.delete(key);
      },
      (error: unknown) => this.#retry(jobId, key, error, work, options),
    );
    this.#running.add(promise);
    void promise.finally(() => this.#running.delete(promise));
    return promise;
  }

  /** Runs a step after `delayMs`, in place of whatever step the job had scheduled in that lane. */
  schedule(jobId: string, delayMs: number, work: () => Promise<void>, options: StepOptions = {}): void {
    if (this.#stopping) return;
    const key = laneKey(jobId, options.lane);
    const existing = this.#timers.get(key);
    if (existing) clearTimeout(existing);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      void this.run(jobId, work, options);
    }, delayMs);
    this.#timers.set(key, timer);
  }

  /** Drops the job's scheduled step in that lane, if any (a deadline the job no longer needs). */
  cancel(jobId: string, lane?: string): void {
    const key = laneKey(jobId, lane);
    const timer = this.#timers.get(key);
    if (timer) clearTimeout(timer);
    this.#timers.delete(key);
    this.#failures.delete(key);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.allSettled([...this.#running]);
  }

  #retry(jobId: string, key: string, error: unknown, work: () => Promise<void>, options: StepOptions): void {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    const retryInMs = Math.min(this.#retryBaseMs * 2 ** Math.min(failures - 1, 30), this.#retryMaxMs);
    this.logger.warn(
      { jobId, lane: options.lane ?? JOB_LANE, failures, retryInMs, err: error },
      'job step failed; trying again',
    );
    this.schedule(jobId, retryInMs, options.again ?? work, options);
  }
}

function laneKey(jobId: string, lane: string = JOB_LANE): string {
  return `${lane}:${jobId}`;
}

/**
 * One run at a time per job. A call made while a run is under way does not run; run() then tells its
 * caller that one came, so a caller that must not lose it (a read asked for mid-read) can run again.
 */
export class Exclusive {
  readonly #running = new Set<string>();
  readonly #missed = new Set<string>();

  /** true when calls came (and were skipped) while this run was under way. */
  async run(jobId: string, work: () => Promise<void>): Promise<boolean> {
    if (this.#running.has(jobId)) {
      this.#missed.add(jobId);
      return false;
    }
    this.#running.add(jobId);
    let missed: boolean;
    try {
      await work();
    } finally {
      this.#running.delete(jobId);
      missed = this.#missed.delete(jobId);
    }
    return missed;
  }
}
