import type Keyv from 'keyv';
import type { Clock } from '../../lib/clock.js';
import type { VeoModel } from '../../lib/models.js';
import { silentLogger, type Logger } from '../../logger.js';
import {
  activeJobs,
  fitsAt,
  ledgerUsage,
  lockKey,
  nextUnitAt,
  serverKey,
  SERVER_WINDOW_MS,
  usageKey,
  type Ledger,
  type LedgerEntry,
  type LedgerUsage,
  type QuotaScope,
} from './ledger.js';
import type { CreditBudget } from './credits.js';
import type { DailyUsage, UserDailyUnits } from './daily.js';
import { resolveRules, type GuildQuotaSettings, type QuotaDefaults, type QuotaLimits, type Rules } from './limits.js';
import { reconcile, type JobLookup, type ReconcileResult } from './reconcile.js';
import { LedgerStore } from './store.js';

/** `daily`: the member's USER_DAILY_UNITS across every server (then `remaining` and `limit` are of that day). */
export type RefusalReason = 'blocked' | 'budget' | 'active_jobs' | 'quota' | 'daily' | 'model_unavailable';

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
      available: VeoModel[];
      maxActiveJobs: number;
    };

/** What one ledger holds against its window, as status and serverUsage report it. */
interface UsageSummary {
  used: number;
  held: number;
  running: number;
  nextUnitAt: number | null;
}

export interface QuotaStatus extends UsageSummary {
  limit: number;
  remaining: number;
  activeJobs: number;
  windowHours: number;
  maxActiveJobs: number;
  blocked: boolean;
  /** The member's day across every server; null when USER_DAILY_UNITS is unset. */
  daily: DailyUsage | null;
}

/** A server's shared ledger over the last 24 h; `budget` null when the server has none. */
export interface ServerUsage extends UsageSummary {
  budget: number | null;
  remaining: number | null;
}

export interface QuotaServiceOptions {
  /** A Keyv on namespace `quota` with its own adapter; create it with `throwOnErrors: true`. */
  store: Keyv;
  clock: Clock;
  defaults: QuotaDefaults;
  settings?: (guildId: string) => Promise<GuildQuotaSettings>;
  /** USER_DAILY_UNITS across servers, reserved last (DESIGN §1.4); absent: no cross-server cap. */
  daily?: UserDailyUnits | null;
  /** The bot's credit budget: reserved before these ledgers (see accept.ts), settled with them. */
  credits?: CreditBudget | null;
  logger?: Logger;
}

/** The units under `cap` not yet used. */
function left(cap: number, usage: LedgerUsage): number {
  return Math.max(0, cap - usage.used);
}

function summaryOf(usage: LedgerUsage, windowMs: number): UsageSummary {
  const { used, held, running } = usage;
  return { used, held, running, nextUnitAt: nextUnitAt(usage, windowMs) };
}

/** One ledger read under its scope's lock, with the rules in force and the time of the read. */
interface LedgerTurn {
  ledger: Ledger;
  rules: Rules;
  now: number;
}

/** A ledger to write: its key, its value, the window it prunes by. */
type LedgerWrite = readonly [key: string, ledger: Ledger, windowMs: number];

/** The per-member ledger of DESIGN §8, beside each server's shared 24 h ledger. */
export class QuotaService {
  readonly #ledgers: LedgerStore;
  readonly #clock: Clock;
  readonly #defaults: QuotaDefaults;
  readonly #settings: ((guildId: string) => Promise<GuildQuotaSettings>) | undefined;
  readonly #daily: UserDailyUnits | null;
  readonly #credits: CreditBudget | null;
  readonly #logger: Logger;

  constructor(opts: QuotaServiceOptions) {
    this.#clock = opts.clock;
    this.#defaults = opts.defaults;
    this.#settings = opts.settings;
    this.#daily = opts.daily ?? null;
    this.#credits = opts.credits ?? null;
    this.#logger = opts.logger ?? silentLogger;
    this.#ledgers = new LedgerStore(opts.store, this.#logger);
  }

  /**
   * Holds what a job costs: a video of a model at this server's price, or a fixed number of units (a 4K
   * upgrade, whose spend id stands in for the job id). The refusals run in DESIGN §1.4's order.
   */
  reserve(scope: QuotaScope, jobId: string, charge: VeoModel | { readonly units: number }): Promise<ReserveResult> {
    return this.#withLedger(scope, usageKey(scope), async ({ ledger, rules, now }) => {
      const usage = ledgerUsage(ledger, now, rules.windowMs);
      const remaining = left(rules.limit, usage);
      const model = typeof charge === 'string' ? charge : null;
      const cost = typeof charge === 'string' ? rules.costs[charge] : charge.units;
      const refuse = (reason: RefusalReason, retryAt: number | null): ReserveResult => {
        this.#logger.debug({ guildId: scope.guildId, jobId, model, reason }, 'quota reservation refused');
        return {
          ok: false,
          reason,
          retryAt,
          remaining,
          limit: rules.limit,
          cost,
          available: rules.available,
          maxActiveJobs: rules.maxActiveJobs,
        };
      };

      const existing = ledger.entries.find((e) => e.jobId === jobId);
      if (existing) return { ok: true, units: existing.units, remaining, limit: rules.limit };

      if (rules.blocked.includes(scope.userId)) return refuse('blocked', null);
      // A model dearer than the whole allowance or budget could never run: "pick another", not "try later".
      if (model !== null && !rules.available.includes(model)) return refuse('model_unavailable', null);

      // Every server keeps its shared 24 h ledger, budget or not, so /veo-admin status can report the day
      // and a budget set later counts what was already spent.
      const serverLedger = scope.guildId !== null ? await this.#ledgers.read(serverKey(scope.guildId)) : null;
      if (serverLedger && rules.budget !== null) {
        const budgetUsage = ledgerUsage(serverLedger, now, SERVER_WINDOW_MS);
        if (budgetUsage.used + cost > rules.budget) {
          return refuse('budget', fitsAt(budgetUsage, cost, rules.budget, SERVER_WINDOW_MS));
        }
      }

      if (activeJobs(ledger) >= rules.maxActiveJobs) return refuse('active_jobs', null);
      if (usage.used + cost > rules.limit) return refuse('quota', fitsAt(usage, cost, rules.limit, rules.windowMs));
      if (this.#daily) {
        const day = await this.#daily.reserve(scope.userId, jobId, cost, scope.guildId);
        if (!day.ok)
          return {
            ...refuse('daily', day.retryAt),
            remaining: Math.max(0, this.#daily.limit - day.used),
            limit: this.#daily.limit,
          };
      }

      const entry: LedgerEntry = { jobId, units: cost, at: now, state: 'held', open: true };
      ledger.entries.push(entry);
      const writes: LedgerWrite[] = [[usageKey(scope), ledger, rules.windowMs]];
      if (serverLedger && scope.guildId !== null) {
        serverLedger.entries.push({ ...entry });
        writes.push([serverKey(scope.guildId), serverLedger, SERVER_WINDOW_MS]);
      }
      try {
        await this.#writeAll(writes, now);
      } catch (error) {
        await this.#daily?.refund(scope.userId, jobId);
        throw error;
      }
      return { ok: true, units: cost, remaining: remaining - cost, limit: rules.limit };
    });
  }

  /** kie accepted the job: its held units and credits become spent. */
  async commit(scope: QuotaScope, jobId: string): Promise<void> {
    await this.#update(scope, jobId, (e) => {
      if (e.state !== 'held') return false;
      e.state = 'spent';
      return true;
    });
    await this.#daily?.commit(scope.userId, jobId);
    await this.#credits?.commit(jobId);
  }

  /**
   * True when this call refunded the job's units; false when they were refunded before or are unknown.
   * Its day across servers and its credits come back too (each idempotent on its own).
   */
  async refund(scope: QuotaScope, jobId: string): Promise<boolean> {
    const refunded = await this.#update(scope, jobId, (e) => {
      if (e.state === 'refunded') return false;
      e.state = 'refunded';
      e.open = false;
      return true;
    });
    if (refunded) this.#logger.info({ guildId: scope.guildId, jobId }, 'quota refunded');
    await this.#daily?.refund(scope.userId, jobId);
    await this.#credits?.refund(jobId);
    return refunded;
  }

  /** The job reached a final state: it stops counting as active; its charge (units and credits) stands. */
  async release(scope: QuotaScope, jobId: string): Promise<void> {
    await this.#update(scope, jobId, (e) => {
      if (!e.open) return false;
      e.open = false;
      return true;
    });
    await this.#daily?.close(scope.userId, jobId);
    await this.#credits?.close(jobId);
  }

  async status(scope: QuotaScope): Promise<QuotaStatus> {
    const daily = this.#daily ? await this.#daily.usage(scope.userId) : null;
    return this.#withLedger(scope, usageKey(scope), ({ ledger, rules, now }) => {
      const usage = ledgerUsage(ledger, now, rules.windowMs);
      return {
        daily,
        ...summaryOf(usage, rules.windowMs),
        limit: rules.limit,
        remaining: left(rules.limit, usage),
        activeJobs: activeJobs(ledger),
        windowHours: rules.windowHours,
        maxActiveJobs: rules.maxActiveJobs,
        blocked: rules.blocked.includes(scope.userId),
      };
    });
  }

  /** The rules in force for this scope; a DM scope gets the environment defaults. */
  async limits(guildId: string | null): Promise<QuotaLimits> {
    const { limit, windowHours, costs, maxActiveJobs, budget, available, clamped } = await this.#rules({
      guildId,
      userId: '',
    });
    return { limit, windowHours, costs, maxActiveJobs, budget, available, clamped };
  }

  /** What the whole server charged over the last 24 h, against its budget when it has one. */
  serverUsage(guildId: string): Promise<ServerUsage> {
    return this.#withLedger({ guildId, userId: '' }, serverKey(guildId), ({ ledger, rules, now }) => {
      const usage = ledgerUsage(ledger, now, SERVER_WINDOW_MS);
      return {
        ...summaryOf(usage, SERVER_WINDOW_MS),
        budget: rules.budget,
        remaining: rules.budget === null ? null : left(rules.budget, usage),
      };
    });
  }

  /** A fresh window for the member; running jobs still count as active. */
  reset(scope: QuotaScope): Promise<void> {
    return this.#withLedger(scope, usageKey(scope), async ({ ledger, rules, now }) => {
      ledger.resetAt = now;
      await this.#ledgers.write(usageKey(scope), ledger, now, rules.windowMs);
    });
  }

  /**
   * Deletes the member's usage (`/veo-admin forget`) except entries of jobs still running, which must still
   * settle (refund or close); returns how many entries were kept. Server-ledger entries carry no user id and stay.
   */
  forget(guildId: string | null, userId: string): Promise<number> {
    const scope: QuotaScope = { guildId, userId };
    return this.#ledgers.locked(lockKey(scope), async () => {
      const ledger = await this.#ledgers.read(usageKey(scope));
      const open = ledger.entries.filter((e) => e.open);
      if (open.length === 0) await this.#ledgers.delete(usageKey(scope));
      else {
        const { windowMs } = await this.#rules(scope);
        await this.#ledgers.write(usageKey(scope), { resetAt: 0, entries: open }, this.#clock.now(), windowMs);
      }
      return open.length;
    });
  }

  /**
   * Run once at start, before new jobs: settles entries whose job ended while we were down (see
   * reconcile.ts), then the members' days across servers. `owns` keeps a shard to its own guilds;
   * `reservedBefore` spares this run's reservations. (The credit budget reconciles on its own.)
   */
  async reconcile(
    lookup: JobLookup,
    owns: (guildId: string | null) => boolean = () => true,
    reservedBefore = Number.POSITIVE_INFINITY,
  ): Promise<ReconcileResult> {
    const result = await reconcile(
      {
        ledgers: this.#ledgers,
        now: () => this.#clock.now(),
        windowMsOf: async (scope) => (await this.#rules(scope)).windowMs,
        logger: this.#logger,
      },
      { lookup, owns, reservedBefore },
    );
    const daily = await this.#daily?.reconcile(lookup, owns, reservedBefore);
    if (daily) this.#logger.info({ ...daily }, 'daily units across servers reconciled');
    return result;
  }

  async #update(scope: QuotaScope, jobId: string, change: (e: LedgerEntry) => boolean): Promise<boolean> {
    return this.#withLedger(scope, usageKey(scope), async ({ ledger, rules, now }) => {
      const entry = ledger.entries.find((e) => e.jobId === jobId);
      if (!entry || !change(entry)) return false;
      const writes: LedgerWrite[] = [[usageKey(scope), ledger, rules.windowMs]];
      if (scope.guildId !== null) {
        // The server's twin follows even when the server has since dropped its budget.
        const server = await this.#ledgers.read(serverKey(scope.guildId));
        const twin = server.entries.find((e) => e.jobId === jobId);
        if (twin && change(twin)) writes.push([serverKey(scope.guildId), server, SERVER_WINDOW_MS]);
      }
      await this.#writeAll(writes, now);
      return true;
    });
  }

  /**
   * A member's ledger and its server's twin, written together: each write was a store round trip inside
   * the server's lock, which a burst in one server queues behind. A crash between them is safe in any
   * order, since reconcile settles every ledger on its own by the job's fate. Both settle before the
   * lock is let go, so no later change can overtake one of them.
   */
  async #writeAll(writes: readonly LedgerWrite[], now: number): Promise<void> {
    const results = await Promise.allSettled(
      writes.map(([key, ledger, windowMs]) => this.#ledgers.write(key, ledger, now, windowMs)),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Runs `fn` under the scope's lock with the ledger at `key` and the rules in force for the scope. */
  #withLedger<T>(scope: QuotaScope, key: string, fn: (turn: LedgerTurn) => T | Promise<T>): Promise<T> {
    return this.#ledgers.locked(lockKey(scope), async () => {
      const now = this.#clock.now();
      const rules = await this.#rules(scope);
      const ledger = await this.#ledgers.read(key);
      return fn({ ledger, rules, now });
    });
  }

  async #rules(scope: QuotaScope): Promise<Rules> {
    const s: GuildQuotaSettings = scope.guildId !== null && this.#settings ? await this.#settings(scope.guildId) : {};
    return resolveRules(this.#defaults, s);
  }
}
