import type { Clock } from '../../lib/clock.js';
import { KeyedLock } from '../../lib/keyedLock.js';
import type { Logger } from '../../logger.js';
import { renderStatus } from '../delivery/views.js';
import { durationKind } from './durations.js';
import type { DeliveryPort, DurationPort, LimiterPort } from './ports.js';
import type { JobState } from './record.js';
import { STATUS_LANE, type JobSteps } from './steps.js';
import type { JobStore } from './store.js';

export const STATUS_MIN_INTERVAL_MS = 30_000;

/** What a status edit shows, as one comparable key: the state, with the queue position while queued. */
export function statusKey(state: JobState, position: number | null): string {
  return state === 'queued' && position ? `queued:${position}` : state;
}

export interface StatusEditsDeps {
  readonly jobs: JobStore;
  readonly limiter: Pick<LimiterPort, 'position' | 'onQueueChange'>;
  readonly delivery: Pick<DeliveryPort, 'updateJobMessage'>;
  readonly steps: JobSteps;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Recent generation times per kind of job, for the status's "expected" line (absent: none shown). */
  readonly durations?: DurationPort | undefined;
  /** At most one edit per job per this period (DESIGN §1.5); 30 s unless a test says otherwise. */
  readonly minIntervalMs?: number;
}

/**
 * The job message while a job is queued or generating (DESIGN §1.5): edited on a state or queue-position
 * change only, at most once per 30 s per job; a change inside that window gets one trailing edit.
 */
export class StatusEdits {
  /** What this process last showed per job: the gate that spares a store read per queue change. */
  readonly #shown = new Map<string, { key: string; at: number }>();
  readonly #trailing = new Map<string, NodeJS.Timeout>();
  readonly #lock = new KeyedLock();
  /** Jobs waiting for the limiter: one listener refreshes them all, at most once per tick. */
  readonly #following = new Set<string>();
  #refresh: NodeJS.Immediate | null = null;
  readonly #unsubscribe: () => void;
  readonly #minIntervalMs: number;
  #stopped = false;

  constructor(private readonly deps: StatusEditsDeps) {
    this.#minIntervalMs = deps.minIntervalMs ?? STATUS_MIN_INTERVAL_MS;
    this.#unsubscribe = deps.limiter.onQueueChange(() => {
      this.#refresh ??= setImmediate(() => {
        this.#refresh = null;
        for (const id of this.#following)
          if (this.#mayChange(id)) void this.deps.steps.run(id, () => this.show(id), { lane: STATUS_LANE });
      });
    });
  }

  /** Shows this job's queue position as it moves, until the returned function is called. */
  follow(jobId: string): () => void {
    this.#following.add(jobId);
    return () => this.#following.delete(jobId);
  }

  /** The job left the states a status shows (it is delivering or final): nothing of it is kept. */
  forget(jobId: string): void {
    this.#shown.delete(jobId);
  }

  /** Edits the job message if its status changed; serialised per job. Throws when Discord or the store failed. */
  async show(id: string): Promise<void> {
    await this.#lock.run(id, async () => {
      const position = this.deps.limiter.position(id);
      const shown = this.#shown.get(id);
      if (this.#sameQueuePlace(shown, position)) return;
      if (shown && this.#defer(id, shown.at)) return;
      const job = await this.deps.jobs.get(id);
      if (!job || (job.state !== 'queued' && job.state !== 'generating')) return;
      const key = statusKey(job.state, position);
      const last = shown ?? job.status;
      if (last?.key === key) return;
      if (last && this.#defer(id, last.at)) return;
      const status = { key, at: this.deps.clock.now() };
      const next = { ...job, status };
      const expectedMs = this.deps.durations?.median(durationKind(next)) ?? null;
      // Shown, then recorded: an edit Discord did not take throws, and the step runs again after a
      // backoff; a lost write only means a restart may show the same status once more.
      await this.deps.delivery.updateJobMessage(next, renderStatus(next, { position, expectedMs }));
      this.#shown.set(id, status);
      await this.deps.jobs.update(id, (j) => ({ ...j, status }));
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe();
    if (this.#refresh) clearImmediate(this.#refresh);
    for (const timer of this.#trailing.values()) clearTimeout(timer);
    this.#trailing.clear();
  }

  #sameQueuePlace(shown: { key: string } | undefined, position: number | null): boolean {
    return position !== null && shown?.key === statusKey('queued', position);
  }

  /**
   * The in-memory gate of show(), run synchronously for every waiting job on every queue change: with a
   * thousand jobs queued, a promise per job per change was most of the bot's garbage.
   */
  #mayChange(id: string): boolean {
    const shown = this.#shown.get(id);
    if (!shown) return true;
    if (this.#sameQueuePlace(shown, this.deps.limiter.position(id))) return false;
    return !this.#defer(id, shown.at);
  }

  /** true when the last edit is too recent: one trailing edit is scheduled instead. */
  #defer(id: string, lastAt: number): boolean {
    const wait = lastAt + this.#minIntervalMs - this.deps.clock.now();
    if (wait <= 0) return false;
    if (!this.#trailing.has(id) && !this.#stopped) {
      this.#trailing.set(
        id,
        setTimeout(() => {
          this.#trailing.delete(id);
          void this.deps.steps.run(id, () => this.show(id), { lane: STATUS_LANE });
        }, wait),
      );
    }
    return true;
  }
}
