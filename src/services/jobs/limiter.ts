import { systemClock, type Clock } from '../../lib/clock.js';
import { silentLogger, type Logger } from '../../logger.js';
import type { Rate } from '../../lib/rate.js';
import type { QuotaScope } from '../quota/ledger.js';
import { FairQueue } from './fairQueue.js';

/** The fair queue's bucket of a job: its server, or its requester's DMs. */
export function queueBucket(scope: QuotaScope): string {
  return scope.guildId === null ? `dm:${scope.userId}` : `guild:${scope.guildId}`;
}

/** Waiters acquired without a bucket share this one (plain arrival order among themselves). */
const NO_BUCKET = '';

/** Rejects the acquire of a waiter removed by `cancel(id)` or `stop()`. */
export class LimiterCancelledError extends Error {
  override readonly name = 'LimiterCancelledError';
  constructor(readonly id: string) {
    super(`generate slot for ${id} was cancelled`);
  }
}

interface Waiter {
  readonly id: string;
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
  readonly detach: () => void;
}

export interface GenerateLimiterOptions extends Rate {
  clock?: Clock;
  logger?: Logger;
}

/**
 * Our own sliding-window limit on new kie generations (the account limit), so a burst queues here with a
 * visible position instead of drawing 429s. Waiters are served in the fair queue's order (round-robin by
 * server, arrival order within one); the window decides when the next may go.
 */
export class GenerateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  // Grant times still inside the window, oldest first; never longer than the limit.
  readonly #granted: number[] = [];
  readonly #queue = new FairQueue<Waiter>();
  readonly #listeners = new Set<() => void>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: GenerateLimiterOptions) {
    if (!Number.isSafeInteger(opts.limit) || opts.limit < 1) throw new Error('limit must be a positive integer');
    if (!Number.isFinite(opts.windowMs) || opts.windowMs <= 0) throw new Error('windowMs must be positive');
    this.#limit = opts.limit;
    this.#windowMs = opts.windowMs;
    this.#clock = opts.clock ?? systemClock;
    this.#logger = opts.logger ?? silentLogger;
  }

  get waiting(): number {
    return this.#queue.size;
  }

  /** 1-based place in the serving order, or null when the id is not waiting. */
  position(id: string): number | null {
    // Every waiting job asks after every change: one O(n) rebuild per change keeps each answer O(1).
    return this.#queue.position(id);
  }

  /**
   * Resolves when `id` may send its generate request; rejects on abort, `cancel(id)` or `stop()`. `bucket`
   * is the job's place in the fair queue (`queueBucket`).
   */
  acquire(id: string, signal?: AbortSignal, bucket: string = NO_BUCKET): Promise<void> {
    if (this.#stopped) return Promise.reject(new LimiterCancelledError(id));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.#queue.has(id)) return Promise.reject(new Error(`${id} is already waiting for a generate slot`));
    this.#prune();
    if (this.#queue.size === 0 && this.#granted.length < this.#limit) {
      this.#granted.push(this.#clock.now());
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        if (this.#remove(id)) reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const detach = () => signal?.removeEventListener('abort', onAbort);
      this.#queue.push(bucket, { id, resolve, reject, detach });
      this.#schedule();
      this.#notify();
    });
  }

  onQueueChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  cancel(id: string): void {
    this.#remove(id)?.reject(new LimiterCancelledError(id));
  }

  /** Rejects every waiter and refuses new ones (shutdown). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiters = this.#queue.drain();
    for (const waiter of waiters) {
      waiter.detach();
      waiter.reject(new LimiterCancelledError(waiter.id));
    }
    if (waiters.length > 0) this.#notify();
  }

  #remove(id: string): Waiter | undefined {
    const waiter = this.#queue.remove(id);
    if (!waiter) return undefined;
    waiter.detach();
    if (this.#queue.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#notify();
    return waiter;
  }

  #prune(): void {
    const horizon = this.#clock.now() - this.#windowMs;
    while (this.#granted.length > 0 && (this.#granted[0] ?? 0) <= horizon) this.#granted.shift();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#queue.size === 0) return;
    const oldest = this.#granted[0];
    // Waiters exist only while the window is full, so the oldest grant says when a slot frees.
    const delay = oldest === undefined ? 0 : Math.max(0, oldest + this.#windowMs - this.#clock.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#drain();
    }, delay);
    this.#timer.unref();
  }

  #drain(): void {
    this.#prune();
    let released = 0;
    while (this.#queue.size > 0 && this.#granted.length < this.#limit) {
      const waiter = this.#queue.shift();
      if (!waiter) break;
      waiter.detach();
      this.#granted.push(this.#clock.now());
      waiter.resolve();
      released++;
    }
    if (released > 0) this.#notify();
    this.#schedule();
  }

  #notify(): void {
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        // A broken listener (a status edit) must not stall the queue for everyone else.
        this.#logger.warn({ err: error }, 'generate limiter queue listener threw');
      }
    }
  }
}
