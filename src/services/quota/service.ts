import type Keyv from 'keyv';
import { z } from 'zod';
import type { Clock } from '../../lib/clock.js';
import { KeyedLock } from '../../lib/keyedLock.js';
import { silentLogger, type Logger } from '../../logger.js';
import type { VeoModel } from '../kie/types.js';

export type QuotaModel = VeoModel;

export interface QuotaDefaults {
  limit: number;
  windowHours: number;
  costs: Record<QuotaModel, number>;
  maxActiveJobs: number;
}

/**
 * What a server admin may override, each key falling back to the environment default when absent; `costs`
 * may name some models only; `budget` is a cap in units over a rolling 24 h (null or absent: none).
 */
export interface GuildQuotaSettings {
  limit?: number;
  windowHours?: number;
  costs?: Partial<Record<QuotaModel, number>>;
  maxActiveJobs?: number;
  blocked?: readonly string[];
  budget?: number | null;
}

/** Whose allowance: a member of a server, or (guildId null) a user in DMs with a bucket of their own. */
export interface QuotaScope {
  guildId: string | null;
  userId: string;
}

export type RefusalReason = 'blocked' | 'budget' | 'active_jobs' | 'quota' | 'model_unavailable';

export type ReserveResult =
  | { ok: true; units: number; remaining: number; limit: number }
  | {
      ok: false;
      reason: RefusalReason;
      /** When the same request would fit; null when no time can be promised (blocked, active jobs, unavailable). */
      retryAt: number | null;
      remaining: number;
      limit: number;
      /** What the refused model costs here, the models that could run here, and the active-job cap. */
      cost: number;
      available: QuotaModel[];
      maxActiveJobs: number;
    };

/** The rules in force for one server (or the DM bucket): environment defaults under the server's overrides. */
export interface QuotaLimits {
  limit: number;
  windowHours: number;
  costs: Record<QuotaModel, number>;
  maxActiveJobs: number;
  budget: number | null;
  /** Models whose cost fits both the allowance and the budget: the others can never run here. */
  available: QuotaModel[];
}

export interface QuotaStatus {
  limit: number;
  used: number;
  held: number;
  running: number;
  remaining: number;
  nextUnitAt: number | null;
  activeJobs: number;
  windowHours: number;
  maxActiveJobs: number;
  blocked: boolean;
}

/** A server's shared ledger over the last 24 h; `budget` null when the server has none. */
export interface ServerUsage {
  used: number;
  held: number;
  running: number;
  budget: number | null;
  remaining: number | null;
  nextUnitAt: number | null;
}

export type JobLookup = (jobId: string) => Promise<'missing' | 'active' | 'delivered' | 'failed'>;

export interface ReconcileResult {
  refunded: number;
  committed: number;
  closed: number;
}

export interface QuotaServiceOptions {
  /** A Keyv on namespace `quota` with its own adapter; create it with `throwOnErrors: true`. */
  store: Keyv;
  clock: Clock;
  defaults: QuotaDefaults;
  settings?: (guildId: string) => Promise<GuildQuotaSettings>;
  logger?: Logger;
}

const entrySchema = z.object({
  jobId: z.string(),
  units: z.number(),
  at: z.number(),
  state: z.enum(['held', 'spent', 'refunded']),
  open: z.boolean(),
});
const ledgerSchema = z.object({ resetAt: z.number(), entries: z.array(entrySchema) });

export type LedgerEntry = z.infer<typeof entrySchema>;
export type Ledger = z.infer<typeof ledgerSchema>;

const HOUR_MS = 3_600_000;
const BUDGET_WINDOW_MS = 24 * HOUR_MS;

interface Effective extends QuotaLimits {
  windowMs: number;
  blocked: readonly string[];
}

const MODELS: readonly QuotaModel[] = ['veo3_fast', 'veo3', 'veo3_lite'];

/** The rules a server's settings give over the defaults; pure, so an admin change can be judged before it is stored. */
export function resolveLimits(defaults: QuotaDefaults, s: GuildQuotaSettings): QuotaLimits {
  const limit = s.limit ?? defaults.limit;
  const budget = s.budget ?? null;
  const costs = { ...defaults.costs, ...s.costs };
  return {
    limit,
    windowHours: s.windowHours ?? defaults.windowHours,
    costs,
    maxActiveJobs: s.maxActiveJobs ?? defaults.maxActiveJobs,
    budget,
    available: MODELS.filter((m) => costs[m] <= limit && (budget === null || costs[m] <= budget)),
  };
}

/** Sums of the entries that count now: not refunded, inside the window, not before the last reset. */
export interface LedgerUsage {
  used: number;
  held: number;
  /** Units of jobs still running (held or already accepted by kie): what a kie failure would give back. */
  running: number;
  /** The counted entries, oldest first. */
  counted: LedgerEntry[];
}

export function ledgerUsage(ledger: Ledger, now: number, windowMs: number): LedgerUsage {
  const counted = ledger.entries
    .filter((e) => e.state !== 'refunded' && e.at + windowMs > now && e.at >= ledger.resetAt)
    .sort((a, b) => a.at - b.at);
  let used = 0;
  let held = 0;
  let running = 0;
  for (const e of counted) {
    used += e.units;
    if (e.state === 'held') held += e.units;
    if (e.open) running += e.units;
  }
  return { used, held, running, counted };
}

/** When enough counted units have left the window for `cost` more to fit under `cap`; null when never. */
export function fitsAt(usage: LedgerUsage, cost: number, cap: number, windowMs: number): number | null {
  if (cost > cap) return null;
  let excess = usage.used + cost - cap;
  for (const e of usage.counted) {
    excess -= e.units;
    if (excess <= 0) return e.at + windowMs;
  }
  return null;
}

/** Open entries stay until closed, whatever their age: they back the active-job count and a later refund. */
function prune(ledger: Ledger, now: number, windowMs: number): void {
  ledger.entries = ledger.entries.filter((e) => e.open || e.at + windowMs > now);
}

function usageKey(scope: QuotaScope): string {
  return scope.guildId === null ? `usage:dm:${scope.userId}` : `usage:${scope.guildId}:${scope.userId}`;
}

function budgetKey(guildId: string): string {
  return `budget:${guildId}`;
}

// Everything that touches one server's ledgers (its members and its budget) shares this key.
function lockKey(scope: QuotaScope): string {
  return scope.guildId === null ? `dm:${scope.userId}` : `guild:${scope.guildId}`;
}

function lockKeyOfStoreKey(key: string): string | null {
  const parts = key.split(':');
  if (parts[0] === 'budget' && parts.length === 2) return `guild:${parts[1] ?? ''}`;
  if (parts[0] !== 'usage' || parts.length !== 3) return null;
  return parts[1] === 'dm' ? `dm:${parts[2] ?? ''}` : `guild:${parts[1] ?? ''}`;
}

/**
 * The per-member ledger of DESIGN §8. Keyv has no atomic operations, so every read-modify-write of a
 * server's (or a DM user's) ledgers runs under one in-process lock key; this holds for one process only.
 */
export class QuotaService {
  readonly #store: Keyv;
  readonly #clock: Clock;
  readonly #defaults: QuotaDefaults;
  readonly #settings: ((guildId: string) => Promise<GuildQuotaSettings>) | undefined;
  readonly #logger: Logger;
  readonly #lock = new KeyedLock();
  readonly #cache = new Map<string, Ledger>();

  constructor(opts: QuotaServiceOptions) {
    this.#store = opts.store;
    this.#clock = opts.clock;
    this.#defaults = opts.defaults;
    this.#settings = opts.settings;
    this.#logger = opts.logger ?? silentLogger;
  }

  reserve(scope: QuotaScope, jobId: string, model: QuotaModel): Promise<ReserveResult> {
    return this.#lock.run(lockKey(scope), async () => {
      const now = this.#clock.now();
      const eff = await this.#effective(scope);
      const ledger = await this.#read(usageKey(scope));
      const usage = ledgerUsage(ledger, now, eff.windowMs);
      const remaining = Math.max(0, eff.limit - usage.used);
      const cost = eff.costs[model];
      const refuse = (reason: RefusalReason, retryAt: number | null): ReserveResult => {
        this.#logger.debug({ guildId: scope.guildId, jobId, model, reason }, 'quota reservation refused');
        return {
          ok: false,
          reason,
          retryAt,
          remaining,
          limit: eff.limit,
          cost,
          available: eff.available,
          maxActiveJobs: eff.maxActiveJobs,
        };
      };

      const existing = ledger.entries.find((e) => e.jobId === jobId);
      if (existing) return { ok: true, units: existing.units, remaining, limit: eff.limit };

      if (eff.blocked.includes(scope.userId)) return refuse('blocked', null);
      // A model dearer than the whole allowance or budget could never run: "pick another", not "try later".
      if (!eff.available.includes(model)) return refuse('model_unavailable', null);

      // Every server keeps its shared 24 h ledger, budget or not, so /veo-admin status can report the day
      // and a budget set later counts what was already spent.
      const serverLedger = scope.guildId !== null ? await this.#read(budgetKey(scope.guildId)) : null;
      if (serverLedger && eff.budget !== null) {
        const budgetUsage = ledgerUsage(serverLedger, now, BUDGET_WINDOW_MS);
        if (budgetUsage.used + cost > eff.budget) {
          return refuse('budget', fitsAt(budgetUsage, cost, eff.budget, BUDGET_WINDOW_MS));
        }
      }

      const active = ledger.entries.filter((e) => e.open).length;
      if (active >= eff.maxActiveJobs) return refuse('active_jobs', null);
      if (usage.used + cost > eff.limit) return refuse('quota', fitsAt(usage, cost, eff.limit, eff.windowMs));

      const entry: LedgerEntry = { jobId, units: cost, at: now, state: 'held', open: true };
      // The server ledger is written first: a crash between the writes then over-counts the server, never under.
      if (serverLedger && scope.guildId !== null) {
        serverLedger.entries.push({ ...entry });
        await this.#write(budgetKey(scope.guildId), serverLedger, now, BUDGET_WINDOW_MS);
      }
      ledger.entries.push(entry);
      await this.#write(usageKey(scope), ledger, now, eff.windowMs);
      return { ok: true, units: cost, remaining: remaining - cost, limit: eff.limit };
    });
  }

  /** The job was accepted: its held units become spent. */
  async commit(scope: QuotaScope, jobId: string): Promise<void> {
    await this.#update(scope, jobId, (e) => {
      if (e.state !== 'held') return false;
      e.state = 'spent';
      return true;
    });
  }

  /** True when this call refunded the job; false when it was refunded before or is unknown. */
  async refund(scope: QuotaScope, jobId: string): Promise<boolean> {
    const refunded = await this.#update(scope, jobId, (e) => {
      if (e.state === 'refunded') return false;
      e.state = 'refunded';
      e.open = false;
      return true;
    });
    if (refunded) this.#logger.info({ guildId: scope.guildId, jobId }, 'quota refunded');
    return refunded;
  }

  /** The job reached a final state: it stops counting as active; its charge is unchanged. */
  async release(scope: QuotaScope, jobId: string): Promise<void> {
    await this.#update(scope, jobId, (e) => {
      if (!e.open) return false;
      e.open = false;
      return true;
    });
  }

  status(scope: QuotaScope): Promise<QuotaStatus> {
    return this.#lock.run(lockKey(scope), async () => {
      const now = this.#clock.now();
      const eff = await this.#effective(scope);
      const ledger = await this.#read(usageKey(scope));
      const usage = ledgerUsage(ledger, now, eff.windowMs);
      const firstUnit = usage.counted.find((e) => e.units > 0);
      return {
        limit: eff.limit,
        used: usage.used,
        held: usage.held,
        running: usage.running,
        remaining: Math.max(0, eff.limit - usage.used),
        nextUnitAt: firstUnit ? firstUnit.at + eff.windowMs : null,
        activeJobs: ledger.entries.filter((e) => e.open).length,
        windowHours: eff.windowHours,
        maxActiveJobs: eff.maxActiveJobs,
        blocked: eff.blocked.includes(scope.userId),
      };
    });
  }

  /** The rules in force for this scope; a DM scope gets the environment defaults. */
  async limits(guildId: string | null): Promise<QuotaLimits> {
    const { limit, windowHours, costs, maxActiveJobs, budget, available } = await this.#effective({
      guildId,
      userId: '',
    });
    return { limit, windowHours, costs, maxActiveJobs, budget, available };
  }

  /** What the whole server charged over the last 24 h, against its budget when it has one. */
  serverUsage(guildId: string): Promise<ServerUsage> {
    return this.#lock.run(lockKey({ guildId, userId: '' }), async () => {
      const now = this.#clock.now();
      const eff = await this.#effective({ guildId, userId: '' });
      const usage = ledgerUsage(await this.#read(budgetKey(guildId)), now, BUDGET_WINDOW_MS);
      const first = usage.counted.find((e) => e.units > 0);
      return {
        used: usage.used,
        held: usage.held,
        running: usage.running,
        budget: eff.budget,
        remaining: eff.budget === null ? null : Math.max(0, eff.budget - usage.used),
        nextUnitAt: first ? first.at + BUDGET_WINDOW_MS : null,
      };
    });
  }

  /** A fresh window for the member; running jobs still count as active. */
  reset(scope: QuotaScope): Promise<void> {
    return this.#lock.run(lockKey(scope), async () => {
      const now = this.#clock.now();
      const eff = await this.#effective(scope);
      const ledger = await this.#read(usageKey(scope));
      ledger.resetAt = now;
      await this.#write(usageKey(scope), ledger, now, eff.windowMs);
    });
  }

  /**
   * Deletes the member's usage (`/veo-admin forget`) except entries of jobs still running, which must still
   * settle (refund or close); returns how many entries were kept. Server-ledger entries carry no user id and stay.
   */
  forget(guildId: string | null, userId: string): Promise<number> {
    const scope: QuotaScope = { guildId, userId };
    return this.#lock.run(lockKey(scope), async () => {
      const ledger = await this.#read(usageKey(scope));
      const open = ledger.entries.filter((e) => e.open);
      if (open.length === 0) {
        this.#cache.delete(usageKey(scope));
        await this.#store.delete(usageKey(scope));
      } else
        await this.#write(
          usageKey(scope),
          { resetAt: 0, entries: open },
          this.#clock.now(),
          (await this.#effective(scope)).windowMs,
        );
      return open.length;
    });
  }

  /**
   * Run once at start, before new jobs: settles entries whose job ended while we were down. It scans the
   * whole namespace, so it stays out of hot paths. Counts are of member entries (budget twins are settled
   * alongside and not counted again). With several shards, `owns` keeps each to the ledgers of its own
   * guilds (guildId null: the DM buckets), since another shard may be writing the others right now.
   */
  /**
   * `reservedBefore`: entries from this process's own reservations (made after it started) belong to jobs
   * whose records may not be written yet; they are never a previous run's leftovers.
   */
  async reconcile(
    lookup: JobLookup,
    owns: (guildId: string | null) => boolean = () => true,
    reservedBefore = Number.POSITIVE_INFINITY,
  ): Promise<ReconcileResult> {
    const result: ReconcileResult = { refunded: 0, committed: 0, closed: 0 };
    // Keys are collected first: @keyv/sqlite pages with LIMIT/OFFSET, so writing while iterating could skip rows.
    const keys: string[] = [];
    for await (const [key, value] of this.#iterate()) {
      const lockKey = lockKeyOfStoreKey(key);
      if (lockKey === null || !owns(lockKey.startsWith('dm:') ? null : lockKey.slice('guild:'.length))) continue;
      if (parseLedger(value)?.entries.some((e) => e.open || e.state === 'held')) keys.push(key);
    }
    const fates = new Map<string, Awaited<ReturnType<JobLookup>>>();
    for (const key of keys) {
      const lock = lockKeyOfStoreKey(key);
      if (lock === null) continue;
      const isUsage = key.startsWith('usage:');
      // Lookups run outside the lock; entries appended meanwhile belong to live jobs and are left alone.
      const before = await this.#read(key);
      for (const e of before.entries) {
        if (e.at >= reservedBefore) continue;
        if ((e.open || e.state === 'held') && !fates.has(e.jobId)) fates.set(e.jobId, await lookup(e.jobId));
      }
      await this.#lock.run(lock, async () => {
        const now = this.#clock.now();
        const ledger = await this.#read(key);
        let changed = false;
        for (const e of ledger.entries) {
          const fate = fates.get(e.jobId);
          if (fate === undefined || fate === 'active') continue;
          const wasOpen = e.open;
          if (e.state === 'held') {
            e.state = fate === 'delivered' ? 'spent' : 'refunded';
            e.open = false;
            changed = true;
            if (isUsage) result[fate === 'delivered' ? 'committed' : 'refunded']++;
          } else if (wasOpen) {
            e.open = false;
            changed = true;
            if (isUsage) result.closed++;
          }
        }
        if (!changed) return;
        const windowMs = isUsage ? (await this.#effectiveForKey(key)).windowMs : BUDGET_WINDOW_MS;
        await this.#write(key, ledger, now, windowMs);
      });
    }
    this.#logger.info({ ...result, ledgers: keys.length }, 'quota reconciled');
    return result;
  }

  async #update(scope: QuotaScope, jobId: string, change: (e: LedgerEntry) => boolean): Promise<boolean> {
    return this.#lock.run(lockKey(scope), async () => {
      const now = this.#clock.now();
      const eff = await this.#effective(scope);
      const ledger = await this.#read(usageKey(scope));
      const entry = ledger.entries.find((e) => e.jobId === jobId);
      if (!entry || !change(entry)) return false;
      if (scope.guildId !== null) {
        // The budget twin follows even when the server has since dropped its budget.
        const budget = await this.#read(budgetKey(scope.guildId));
        const twin = budget.entries.find((e) => e.jobId === jobId);
        if (twin && change(twin)) await this.#write(budgetKey(scope.guildId), budget, now, BUDGET_WINDOW_MS);
      }
      await this.#write(usageKey(scope), ledger, now, eff.windowMs);
      return true;
    });
  }

  async #effective(scope: QuotaScope): Promise<Effective> {
    const s: GuildQuotaSettings = scope.guildId !== null && this.#settings ? await this.#settings(scope.guildId) : {};
    const limits = resolveLimits(this.#defaults, s);
    return { ...limits, windowMs: limits.windowHours * HOUR_MS, blocked: s.blocked ?? [] };
  }

  async #effectiveForKey(key: string): Promise<Effective> {
    const [, guild, user] = key.split(':');
    return this.#effective({ guildId: guild === 'dm' ? null : (guild ?? null), userId: user ?? '' });
  }

  /**
   * This process is the only writer of the ledgers it touches (the store lease, and each guild's shard),
   * so what it last wrote is what the store holds: reading it back would only re-parse and re-validate a
   * value that grows with the server's day. Callers get a copy, since they mutate before writing.
   */
  async #read(key: string): Promise<Ledger> {
    const cached = this.#cache.get(key);
    if (cached) return copyLedger(cached);
    const raw: unknown = await this.#store.get(key);
    if (raw === undefined || raw === null) return { resetAt: 0, entries: [] };
    const ledger = parseLedger(raw);
    if (ledger) {
      this.#remember(key, ledger);
      return copyLedger(ledger);
    }
    // A damaged value must not lock a member out for good; it is logged and overwritten on the next write.
    this.#logger.error({ key }, 'quota ledger unreadable; starting it afresh');
    return { resetAt: 0, entries: [] };
  }

  async #write(key: string, ledger: Ledger, now: number, windowMs: number): Promise<void> {
    prune(ledger, now, windowMs);
    this.#cache.delete(key);
    // Keyv reports a failed store write as `false` unless built with throwOnErrors; never grant on a lost write.
    if (!(await this.#store.set(key, ledger)))
      throw new Error(`quota store write failed for ${key.split(':')[0] ?? ''}`);
    this.#remember(key, copyLedger(ledger));
  }

  #remember(key: string, ledger: Ledger): void {
    this.#cache.set(key, ledger);
    if (this.#cache.size > LEDGER_CACHE_SIZE) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
  }

  async *#iterate(): AsyncGenerator<[string, unknown]> {
    const iterator = this.#store.iterator;
    if (!iterator) throw new Error('the quota store cannot be iterated, so it cannot be reconciled');
    for await (const item of iterator(this.#store.namespace)) {
      const pair: unknown = item;
      if (Array.isArray(pair) && typeof pair[0] === 'string') yield [pair[0], pair[1] as unknown];
    }
  }
}

const LEDGER_CACHE_SIZE = 10_000;

function copyLedger(ledger: Ledger): Ledger {
  return { resetAt: ledger.resetAt, entries: ledger.entries.map((e) => ({ ...e })) };
}

function parseLedger(value: unknown): Ledger | null {
  const parsed = ledgerSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}
