import type Keyv from 'keyv';
import type { Logger } from '../../logger.js';
import { fitsAt, ledgerUsage, nextUnitAt, SERVER_WINDOW_MS } from './ledger.js';
import type { JobFate } from './reconcile.js';
import { LedgerStore } from './store.js';

/** Every shared ledger spans a rolling 24 h, counted by the hour (DESIGN §8). */
export const SHARED_WINDOW_MS = SERVER_WINDOW_MS;

/** One kie call's credits, or one job's units in a user's day across servers. */
export interface Spend {
  /** The job id, or another id unique to the spend (a 1080P click): reserve, commit and refund are idempotent by it. */
  readonly id: string;
  readonly amount: number;
  /** The guild whose process settles the spend after a crash; null: the DM buckets. */
  readonly owner: string | null;
}

export type SharedReservation =
  | { readonly ok: true; readonly used: number }
  | { readonly ok: false; readonly used: number; readonly retryAt: number | null };

export interface SharedUsage {
  readonly used: number;
  readonly held: number;
  /** When the oldest counted spend leaves the window; null when nothing counts. */
  readonly nextFreeAt: number | null;
}

/** A spend still open: reserved, and not yet refunded or closed. */
export interface OpenSpend extends Spend {
  readonly sub: string;
  readonly at: number;
  readonly state: 'held' | 'spent';
}

/**
 * A family of ledgers that every process of the bot shares (the credit budget, each user's day across
 * servers), one per `sub` key ('' when the family has one). A spend is reserved (held), committed
 * (spent: kie accepted it), refunded (gone) or closed (its job ended; it counts until it leaves the
 * window). Exact across processes: each operation is one atomic step on the store.
 */
export interface SharedLedger {
  reserve(sub: string, spend: Spend, cap: number | null, now: number): Promise<SharedReservation>;
  /** Held -> spent; `close` also ends it (a spend nothing can refund any more). True when it changed. */
  commit(sub: string, id: string, now: number, close?: boolean): Promise<boolean>;
  /** True when this call gave the spend back; false when it was not open. */
  refund(sub: string, id: string, now: number): Promise<boolean>;
  /** The spend stands and is no longer open. */
  close(sub: string, id: string, now: number): Promise<boolean>;
  usage(sub: string, now: number): Promise<SharedUsage>;
  /** Every open spend of the family (reconcile reads them at start). */
  open(): Promise<OpenSpend[]>;
}

/**
 * The SQLite form: one Keyv value per ledger (`<family>` or `<family>:<sub>` in namespace `quota`), changed
 * under an in-process lock. One process owns a SQLite store (the lease), so that lock makes it exact.
 */
export class KeyvSharedLedger implements SharedLedger {
  readonly #family: string;
  readonly #ledgers: LedgerStore;

  constructor(family: string, store: Keyv, logger: Logger) {
    this.#family = family;
    this.#ledgers = new LedgerStore(store, logger);
  }

  #key(sub: string): string {
    return sub === '' ? this.#family : `${this.#family}:${sub}`;
  }

  reserve(sub: string, spend: Spend, cap: number | null, now: number): Promise<SharedReservation> {
    const key = this.#key(sub);
    return this.#ledgers.locked(key, async () => {
      const ledger = await this.#ledgers.read(key);
      const usage = ledgerUsage(ledger, now, SHARED_WINDOW_MS);
      if (ledger.entries.some((e) => e.jobId === spend.id)) return { ok: true, used: usage.used };
      if (cap !== null && usage.used + spend.amount > cap)
        return { ok: false, used: usage.used, retryAt: fitsAt(usage, spend.amount, cap, SHARED_WINDOW_MS) };
      ledger.entries.push({
        jobId: spend.id,
        units: spend.amount,
        at: now,
        state: 'held',
        open: true,
        owner: spend.owner,
      });
      await this.#ledgers.write(key, ledger, now, SHARED_WINDOW_MS);
      return { ok: true, used: usage.used + spend.amount };
    });
  }

  commit(sub: string, id: string, now: number, close = false): Promise<boolean> {
    return this.#change(sub, id, now, (e) => {
      const changed = e.state === 'held' || close;
      if (e.state === 'held') e.state = 'spent';
      if (close) e.open = false;
      return changed;
    });
  }

  refund(sub: string, id: string, now: number): Promise<boolean> {
    return this.#change(sub, id, now, (e) => {
      e.state = 'refunded';
      e.open = false;
      return true;
    });
  }

  close(sub: string, id: string, now: number): Promise<boolean> {
    return this.commit(sub, id, now, true);
  }

  async usage(sub: string, now: number): Promise<SharedUsage> {
    const usage = ledgerUsage(await this.#ledgers.read(this.#key(sub)), now, SHARED_WINDOW_MS);
    return { used: usage.used, held: usage.held, nextFreeAt: nextUnitAt(usage, SHARED_WINDOW_MS) };
  }

  async open(): Promise<OpenSpend[]> {
    const found: OpenSpend[] = [];
    const prefix = `${this.#family}:`;
    const keys: string[] = [];
    for await (const [key] of this.#ledgers.entries())
      if (key === this.#family || key.startsWith(prefix)) keys.push(key);
    for (const key of keys) {
      const sub = key === this.#family ? '' : key.slice(prefix.length);
      for (const e of (await this.#ledgers.read(key)).entries) {
        if (e.state === 'refunded') continue;
        found.push({ sub, id: e.jobId, amount: e.units, at: e.at, state: e.state, owner: e.owner ?? null });
      }
    }
    return found;
  }

  /** Open entries only: a closed spend is folded into its hour on write and can no longer change. */
  #change(
    sub: string,
    id: string,
    now: number,
    change: (e: { state: 'held' | 'spent' | 'refunded'; open: boolean }) => boolean,
  ): Promise<boolean> {
    const key = this.#key(sub);
    return this.#ledgers.locked(key, async () => {
      const ledger = await this.#ledgers.read(key);
      const entry = ledger.entries.find((e) => e.jobId === id && e.state !== 'refunded');
      if (!entry || !change(entry)) return false;
      await this.#ledgers.write(key, ledger, now, SHARED_WINDOW_MS);
      return true;
    });
  }
}

/** Looks up what became of a spend's job (or 1080P click) while the bot was down. */
export type SpendLookup = (spendId: string) => Promise<JobFate>;

export interface SpendReconcileResult {
  refunded: number;
  committed: number;
  closed: number;
}

/**
 * At start, before new jobs: open spends a previous process left behind are settled by their job's fate.
 * A failed job's spend is given back (kie charges no failed task), a delivered one stands, a missing job
 * gives back what was only held. `owns` keeps each process to its own guilds' spends; `reservedBefore`
 * spares this process's own.
 */
export async function reconcileSpends(
  ledger: SharedLedger,
  lookup: SpendLookup,
  options: { owns: (guildId: string | null) => boolean; reservedBefore: number; now: () => number },
): Promise<SpendReconcileResult> {
  const result: SpendReconcileResult = { refunded: 0, committed: 0, closed: 0 };
  for (const spend of await ledger.open()) {
    if (spend.at >= options.reservedBefore || !options.owns(spend.owner)) continue;
    const fate = await lookup(spend.id);
    if (fate === 'active') continue;
    if (fate === 'failed' || (fate === 'missing' && spend.state === 'held')) {
      if (await ledger.refund(spend.sub, spend.id, options.now())) result.refunded++;
    } else if (await ledger.commit(spend.sub, spend.id, options.now(), true)) {
      result[spend.state === 'held' ? 'committed' : 'closed']++;
    }
  }
  return result;
}
