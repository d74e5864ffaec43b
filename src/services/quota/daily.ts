import type { Clock } from '../../lib/clock.js';
import {
  reconcileSpends,
  type SharedLedger,
  type SharedReservation,
  type SpendLookup,
  type SpendReconcileResult,
} from './shared.js';

export interface DailyUsage {
  readonly used: number;
  readonly limit: number;
  readonly remaining: number;
  readonly nextUnitAt: number | null;
}

/**
 * `USER_DAILY_UNITS`: a user's units per rolling 24 h over every server and DM, so membership of many
 * servers does not multiply an allowance. One shared ledger per user, settled with the job's own units.
 */
export class UserDailyUnits {
  constructor(
    private readonly ledger: SharedLedger,
    readonly limit: number,
    private readonly clock: Clock,
  ) {}

  reserve(userId: string, jobId: string, units: number, owner: string | null): Promise<SharedReservation> {
    return this.ledger.reserve(userId, { id: jobId, amount: units, owner }, this.limit, this.clock.now());
  }

  async commit(userId: string, jobId: string): Promise<void> {
    await this.ledger.commit(userId, jobId, this.clock.now());
  }

  refund(userId: string, jobId: string): Promise<boolean> {
    return this.ledger.refund(userId, jobId, this.clock.now());
  }

  async close(userId: string, jobId: string): Promise<void> {
    await this.ledger.close(userId, jobId, this.clock.now());
  }

  async usage(userId: string): Promise<DailyUsage> {
    const { used, nextFreeAt } = await this.ledger.usage(userId, this.clock.now());
    return { used, limit: this.limit, remaining: Math.max(0, this.limit - used), nextUnitAt: nextFreeAt };
  }

  reconcile(
    lookup: SpendLookup,
    owns: (guildId: string | null) => boolean,
    reservedBefore: number,
  ): Promise<SpendReconcileResult> {
    return reconcileSpends(this.ledger, lookup, { owns, reservedBefore, now: () => this.clock.now() });
  }
}
