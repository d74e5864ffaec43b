import type { Logger } from '../../logger.js';
import { lockKey, parseLedger, parseLedgerKey, SERVER_WINDOW_MS, type LedgerKey, type QuotaScope } from './ledger.js';
import type { LedgerStore } from './store.js';

export type JobFate = 'missing' | 'active' | 'delivered' | 'failed';
export type JobLookup = (jobId: string) => Promise<JobFate>;

export interface ReconcileResult {
  refunded: number;
  committed: number;
  closed: number;
}

export interface ReconcileDeps {
  ledgers: LedgerStore;
  now: () => number;
  /** The rolling window of a member's ledger, from the rules in force for the scope. */
  windowMsOf: (scope: QuotaScope) => Promise<number>;
  logger: Logger;
}

export interface ReconcileOptions {
  lookup: JobLookup;
  /** With several shards, each settles the ledgers of its own guilds only (guildId null: the DM buckets). */
  owns: (guildId: string | null) => boolean;
  /**
   * Entries from this process's own reservations (made at or after this time) belong to jobs whose
   * records may not be written yet; they are never a previous run's leftovers.
   */
  reservedBefore: number;
}

function lockOf(ledger: LedgerKey): string {
  return lockKey(ledger.kind === 'member' ? ledger.scope : { guildId: ledger.guildId, userId: '' });
}

function guildOf(ledger: LedgerKey): string | null {
  return ledger.kind === 'member' ? ledger.scope.guildId : ledger.guildId;
}

/**
 * Run once at start, before new jobs: settles entries whose job ended while we were down, refunding those
 * of failed jobs (held or already spent). Counts are of member entries (server-ledger twins are settled
 * alongside and not counted again).
 */
export async function reconcile(deps: ReconcileDeps, options: ReconcileOptions): Promise<ReconcileResult> {
  const { ledgers } = deps;
  const result: ReconcileResult = { refunded: 0, committed: 0, closed: 0 };
  // Keys are collected first: @keyv/sqlite pages with LIMIT/OFFSET, so writing while iterating could skip rows.
  const pending: [string, LedgerKey][] = [];
  for await (const [key, value] of ledgers.entries()) {
    const ledger = parseLedgerKey(key);
    if (ledger === null || !options.owns(guildOf(ledger))) continue;
    if (parseLedger(value)?.entries.some((e) => e.open || e.state === 'held')) pending.push([key, ledger]);
  }
  const fates = new Map<string, JobFate>();
  for (const [key, ledgerKey] of pending) {
    const isMember = ledgerKey.kind === 'member';
    // Lookups run outside the lock; entries appended meanwhile belong to live jobs and are left alone.
    const before = await ledgers.read(key);
    for (const e of before.entries) {
      if (e.at >= options.reservedBefore) continue;
      if ((e.open || e.state === 'held') && !fates.has(e.jobId)) fates.set(e.jobId, await options.lookup(e.jobId));
    }
    await ledgers.locked(lockOf(ledgerKey), async () => {
      const now = deps.now();
      const ledger = await ledgers.read(key);
      let changed = false;
      for (const e of ledger.entries) {
        const fate = fates.get(e.jobId);
        if (fate === undefined || fate === 'active') continue;
        if (e.state === 'held') {
          e.state = fate === 'delivered' ? 'spent' : 'refunded';
          e.open = false;
          changed = true;
          if (isMember) result[fate === 'delivered' ? 'committed' : 'refunded']++;
        } else if (e.open && e.state === 'spent' && fate === 'failed') {
          // A failure whose refund never reached the ledger (the write failed, or a kill came first).
          e.state = 'refunded';
          e.open = false;
          changed = true;
          if (isMember) result.refunded++;
        } else if (e.open) {
          e.open = false;
          changed = true;
          if (isMember) result.closed++;
        }
      }
      if (!changed) return;
      const windowMs = ledgerKey.kind === 'member' ? await deps.windowMsOf(ledgerKey.scope) : SERVER_WINDOW_MS;
      await ledgers.write(key, ledger, now, windowMs);
    });
  }
  deps.logger.info({ ...result, ledgers: pending.length }, 'quota reconciled');
  return result;
}
