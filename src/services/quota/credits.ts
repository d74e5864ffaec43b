import type { CreditPrices } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import type { VeoModel } from '../../lib/models.js';
import type { UpgradeName } from '../jobs/record.js';
import { silentLogger, type Logger } from '../../logger.js';
import { reconcileSpends, type SharedLedger, type SpendLookup, type SpendReconcileResult } from './shared.js';

/** A kie call that costs credits: a generation or extension of a model, or an upgrade of a finished video. */
export type CreditCall = { readonly kind: 'video'; readonly model: VeoModel } | { readonly kind: '1080p' | '4k' };

export type CreditReservation =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** When enough credits leave the window; null when the call costs more than the whole budget. */
      readonly retryAt: number | null;
    };

export interface CreditUsage {
  readonly used: number;
  readonly held: number;
  readonly budget: number | null;
  readonly nextFreeAt: number | null;
}

const SPEND_PREFIXES: Readonly<Record<UpgradeName, string>> = { '1080p': 'hd', '4k': '4k' };

/**
 * The spend of one upgrade click (its credits, and a 4K's units): one per click, so a click after a failed
 * preparation is a new spend.
 */
export function upgradeSpendId(name: UpgradeName, jobId: string, interactionId: string): string {
  return `${SPEND_PREFIXES[name]}:${jobId}:${interactionId}`;
}

export function hdSpendId(jobId: string, interactionId: string): string {
  return upgradeSpendId('1080p', jobId, interactionId);
}

export function parseUpgradeSpendId(id: string): { name: UpgradeName; jobId: string; interactionId: string } | null {
  const match = /^(hd|4k):([^:]+):(\d+)$/.exec(id);
  if (!match?.[2] || !match[3]) return null;
  return { name: match[1] === '4k' ? '4k' : '1080p', jobId: match[2], interactionId: match[3] };
}

export interface CreditBudgetOptions {
  readonly ledger: SharedLedger;
  /** kie credits per rolling 24 h across every server; null: every spend is tallied, none refused. */
  readonly budget: number | null;
  readonly prices: CreditPrices;
  readonly clock: Clock;
  readonly logger?: Logger;
}

/**
 * The bot's own daily kie-credit budget (DESIGN §8): every kie spend reserves its price before the call
 * (generate and extend by model, 1080P, 4K), is committed when kie accepts it and given back when kie
 * fails it. One ledger for every server and every process of the bot.
 */
export class CreditBudget {
  readonly #ledger: SharedLedger;
  readonly #budget: number | null;
  readonly #prices: CreditPrices;
  readonly #clock: Clock;
  readonly #logger: Logger;

  constructor(opts: CreditBudgetOptions) {
    this.#ledger = opts.ledger;
    this.#budget = opts.budget;
    this.#prices = opts.prices;
    this.#clock = opts.clock;
    this.#logger = opts.logger ?? silentLogger;
  }

  priceOf(call: CreditCall): number {
    if (call.kind === 'video') return this.#prices.models[call.model];
    return call.kind === '1080p' ? this.#prices.hd1080p : this.#prices.uhd4k;
  }

  /** Holds the call's price; `owner` is the guild the spend belongs to (null in DMs). */
  async reserve(spendId: string, call: CreditCall, owner: string | null): Promise<CreditReservation> {
    const amount = this.priceOf(call);
    const result = await this.#ledger.reserve('', { id: spendId, amount, owner }, this.#budget, this.#clock.now());
    if (result.ok) return { ok: true };
    this.#logger.warn(
      { spendId, call: call.kind, amount, used: result.used, budget: this.#budget },
      'daily credit budget reached; refusing a kie call',
    );
    return { ok: false, retryAt: result.retryAt };
  }

  /** kie accepted the call (a generation has its task id); the credits stay held until the job ends. */
  async commit(spendId: string): Promise<void> {
    await this.#ledger.commit('', spendId, this.#clock.now());
  }

  /** kie accepted a call nothing can undo any more (an upgrade): the spend stands. */
  async settle(spendId: string): Promise<void> {
    await this.#ledger.commit('', spendId, this.#clock.now(), true);
  }

  /** kie failed the call, or it never happened: the credits come back. True when this call returned them. */
  refund(spendId: string): Promise<boolean> {
    return this.#ledger.refund('', spendId, this.#clock.now());
  }

  /** The job ended with kie's work done: the spend stands. */
  async close(spendId: string): Promise<void> {
    await this.#ledger.close('', spendId, this.#clock.now());
  }

  async usage(): Promise<CreditUsage> {
    const usage = await this.#ledger.usage('', this.#clock.now());
    return { ...usage, budget: this.#budget };
  }

  reconcile(
    lookup: SpendLookup,
    owns: (guildId: string | null) => boolean,
    reservedBefore: number,
  ): Promise<SpendReconcileResult> {
    return reconcileSpends(this.#ledger, lookup, { owns, reservedBefore, now: () => this.#clock.now() });
  }
}

/** The kie balance as last read, and when. */
export interface Balance {
  readonly credits: number;
  readonly at: number;
}

/**
 * The kie balance for operators, read at most once per `maxAgeMs` however often `/veo-admin status` runs;
 * concurrent readers share one request, and a failed read falls back to the last known value.
 */
export class CachedBalance {
  #last: Balance | null = null;
  #pending: Promise<Balance | null> | null = null;

  constructor(
    private readonly read: () => Promise<number>,
    private readonly clock: Clock,
    private readonly maxAgeMs: number,
    private readonly logger: Logger = silentLogger,
  ) {}

  get(): Promise<Balance | null> {
    const last = this.#last;
    if (last && this.clock.now() - last.at < this.maxAgeMs) return Promise.resolve(last);
    this.#pending ??= this.read()
      .then((credits) => (this.#last = { credits, at: this.clock.now() }))
      .catch((error: unknown) => {
        this.logger.warn({ err: error }, 'could not read the kie balance');
        return this.#last;
      })
      .finally(() => (this.#pending = null));
    return this.#pending;
  }
}
