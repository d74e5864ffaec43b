import type { Logger } from '../../logger.js';

/**
 * Every step a job has running or scheduled in this process (submit, poll, deliver, status edit), so that
 * stop() can cancel the scheduled ones and wait for the running ones. After stop nothing new starts.
 */
export class JobSteps {
  /** One scheduled step per job: scheduling another replaces it. */
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #running = new Set<Promise<unknown>>();
  #stopping = false;

  constructor(private readonly logger: Logger) {}

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Settles when nothing is running or scheduled; for tests and benchmarks. */
  get busy(): boolean {
    return this.#running.size > 0 || this.#timers.size > 0;
  }

  /** Runs a step now; its failure is logged, never thrown. */
  run(jobId: string, work: () => Promise<void>): void {
    if (this.#stopping) return;
    const promise = work().catch((error: unknown) => {
      this.logger.error({ jobId, err: error }, 'job step failed unexpectedly');
    });
    this.#running.add(promise);
    void promise.finally(() => this.#running.delete(promise));
  }

  /** Runs a step after `delayMs`, in place of whatever step the job had scheduled. */
  schedule(jobId: string, delayMs: number, work: () => Promise<void>): void {
    if (this.#stopping) return;
    const existing = this.#timers.get(jobId);
    if (existing) clearTimeout(existing);
    const timer = setTimeout(() => {
      this.#timers.delete(jobId);
      this.run(jobId, work);
    }, delayMs);
    this.#timers.set(jobId, timer);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.allSettled([...this.#running]);
  }
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
