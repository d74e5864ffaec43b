import type Keyv from 'keyv';
import { KeyedLock } from '../../lib/keyedLock.js';
import type { Logger } from '../../logger.js';
import { copyLedger, emptyLedger, isBucketedKey, parseLedger, prune, type Ledger } from './ledger.js';

const LEDGER_CACHE_SIZE = 10_000;

/**
 * The quota namespace of Keyv, ledger by ledger. Keyv has no atomic operations, so every read-modify-write
 * of a server's (or a DM user's) ledgers runs under one in-process lock key; this holds for one process only.
 */
export class LedgerStore {
  readonly #store: Keyv;
  readonly #logger: Logger;
  readonly #lock = new KeyedLock();
  readonly #cache = new Map<string, Ledger>();

  /** `store` is a Keyv on namespace `quota` with its own adapter, created with `throwOnErrors: true`. */
  constructor(store: Keyv, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  locked<T>(lockKey: string, fn: () => Promise<T>): Promise<T> {
    return this.#lock.run(lockKey, fn);
  }

  /**
   * This process is the only writer of the ledgers it touches (the store lease, and each guild's shard),
   * so what it last wrote is what the store holds: reading it back would only re-parse and re-validate a
   * value that grows with the server's day. Callers get a copy, since they mutate before writing.
   */
  async read(key: string): Promise<Ledger> {
    const cached = this.#cache.get(key);
    if (cached) return copyLedger(cached);
    const bucketed = isBucketedKey(key);
    const raw: unknown = await this.#store.get(key);
    if (raw === undefined || raw === null) return emptyLedger(bucketed);
    const ledger = parseLedger(raw);
    if (ledger) {
      // A server ledger written before the hourly buckets existed: its entries fold on the next write.
      if (bucketed) ledger.hours ??= [];
      this.#remember(key, ledger);
      return copyLedger(ledger);
    }
    // A damaged value must not lock a member out for good; it is logged and overwritten on the next write.
    this.#logger.error({ key }, 'quota ledger unreadable; starting it afresh');
    return emptyLedger(bucketed);
  }

  async write(key: string, ledger: Ledger, now: number, windowMs: number): Promise<void> {
    prune(ledger, now, windowMs);
    this.#cache.delete(key);
    // Keyv reports a failed store write as `false` unless built with throwOnErrors; never grant on a lost write.
    if (!(await this.#store.set(key, ledger)))
      throw new Error(`quota store write failed for ${key.split(':')[0] ?? ''}`);
    this.#remember(key, copyLedger(ledger));
  }

  async delete(key: string): Promise<void> {
    this.#cache.delete(key);
    await this.#store.delete(key);
  }

  /** Every stored key and raw value of the namespace; it scans everything, so it stays out of hot paths. */
  async *entries(): AsyncGenerator<[string, unknown]> {
    const iterator = this.#store.iterator;
    if (!iterator) throw new Error('the quota store cannot be iterated, so it cannot be reconciled');
    for await (const item of iterator(this.#store.namespace)) {
      const pair: unknown = item;
      if (Array.isArray(pair) && typeof pair[0] === 'string') yield [pair[0], pair[1] as unknown];
    }
  }

  #remember(key: string, ledger: Ledger): void {
    this.#cache.set(key, ledger);
    if (this.#cache.size > LEDGER_CACHE_SIZE) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
  }
}
