/**
 * An in-process async mutex per key, granted in arrival order. A key exists in the map only while
 * someone holds or waits for it, so idle keys cost nothing.
 */
export class KeyedLock {
  // For each held key, the wake-ups of its waiters in arrival order.
  readonly #waiters = new Map<string, Array<() => void>>();

  /** Keys currently held (for tests and metrics). */
  get size(): number {
    return this.#waiters.size;
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const queue = this.#waiters.get(key);
    if (queue) await new Promise<void>((resolve) => queue.push(resolve));
    else this.#waiters.set(key, []);
    try {
      return await fn();
    } finally {
      this.#release(key);
    }
  }

  #release(key: string): void {
    const queue = this.#waiters.get(key);
    const next = queue?.shift();
    // The lock passes straight to the next waiter, so nobody can slip in between.
    if (next) next();
    else this.#waiters.delete(key);
  }
}
