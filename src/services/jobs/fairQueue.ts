/**
 * The order in which waiting generations are served (DESIGN §8): round-robin over buckets (a server, or one
 * user's DMs), first come first served inside a bucket. A bucket that starts waiting joins at the end of
 * the current round, so its first job waits at most one turn behind each busy bucket. Pure: no time, no
 * timers; the limiter decides when, this decides who.
 */
export class FairQueue<T extends { readonly id: string }> {
  readonly #buckets = new Map<string, T[]>();
  /** Buckets with waiting items, in serving order; `#next` is the one whose turn it is. */
  readonly #ring: string[] = [];
  #next = 0;
  readonly #bucketOf = new Map<string, string>();
  #positions: Map<string, number> | null = null;

  get size(): number {
    return this.#bucketOf.size;
  }

  has(id: string): boolean {
    return this.#bucketOf.has(id);
  }

  push(bucket: string, item: T): void {
    const queue = this.#buckets.get(bucket);
    if (queue) queue.push(item);
    else {
      this.#buckets.set(bucket, [item]);
      // Just before the bucket whose turn it is: last in the current round.
      this.#ring.splice(this.#next, 0, bucket);
      this.#next++;
      if (this.#next >= this.#ring.length) this.#next = 0;
    }
    this.#bucketOf.set(item.id, bucket);
    this.#positions = null;
  }

  /** The next item in turn, its bucket's turn passing to the next bucket. */
  shift(): T | undefined {
    const bucket = this.#ring[this.#next];
    if (bucket === undefined) return undefined;
    const queue = this.#buckets.get(bucket) ?? [];
    const item = queue.shift();
    if (queue.length === 0) this.#dropBucket(this.#next);
    else this.#next = (this.#next + 1) % this.#ring.length;
    if (item) this.#bucketOf.delete(item.id);
    this.#positions = null;
    return item;
  }

  remove(id: string): T | undefined {
    const bucket = this.#bucketOf.get(id);
    if (bucket === undefined) return undefined;
    const queue = this.#buckets.get(bucket) ?? [];
    const index = queue.findIndex((item) => item.id === id);
    const [item] = index === -1 ? [] : queue.splice(index, 1);
    this.#bucketOf.delete(id);
    if (queue.length === 0) this.#dropBucket(this.#ring.indexOf(bucket));
    this.#positions = null;
    return item;
  }

  /** Every item, and empties the queue. */
  drain(): T[] {
    const items = [...this.#buckets.values()].flat();
    this.#buckets.clear();
    this.#ring.length = 0;
    this.#next = 0;
    this.#bucketOf.clear();
    this.#positions = null;
    return items;
  }

  /** 1-based place in the serving order, or null when the id is not waiting. */
  position(id: string): number | null {
    this.#positions ??= this.#order();
    return this.#positions.get(id) ?? null;
  }

  #dropBucket(index: number): void {
    const [bucket] = this.#ring.splice(index, 1);
    if (bucket !== undefined) this.#buckets.delete(bucket);
    if (index < this.#next) this.#next--;
    if (this.#next >= this.#ring.length) this.#next = 0;
  }

  /** Serves every bucket in ring order, one item per round, as shift() would: O(items). */
  #order(): Map<string, number> {
    const order = new Map<string, number>();
    let alive = [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)].map(
      (bucket) => this.#buckets.get(bucket) ?? [],
    );
    for (let round = 0; alive.length > 0; round++) {
      for (const queue of alive) {
        const item = queue[round];
        if (item) order.set(item.id, order.size + 1);
      }
      alive = alive.filter((queue) => queue.length > round + 1);
    }
    return order;
  }
}
