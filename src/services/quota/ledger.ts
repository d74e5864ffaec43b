/** The ledgers of DESIGN §8 as values: their stored shape, what they count, and where they are kept. Pure. */
import { z } from 'zod';

/** Whose allowance: a member of a server, or (guildId null) a user in DMs with a bucket of their own. */
export interface QuotaScope {
  guildId: string | null;
  userId: string;
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

export const HOUR_MS = 3_600_000;
/** A server's shared ledger (its budget, and the day /veo-admin status reports) spans a rolling 24 h. */
export const SERVER_WINDOW_MS = 24 * HOUR_MS;

export function emptyLedger(): Ledger {
  return { resetAt: 0, entries: [] };
}

export function parseLedger(value: unknown): Ledger | null {
  const parsed = ledgerSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

export function copyLedger(ledger: Ledger): Ledger {
  return { resetAt: ledger.resetAt, entries: ledger.entries.map((e) => ({ ...e })) };
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

/** When the oldest counted unit leaves the window; null when nothing counts. */
export function nextUnitAt(usage: LedgerUsage, windowMs: number): number | null {
  const first = usage.counted.find((e) => e.units > 0);
  return first ? first.at + windowMs : null;
}

/** Jobs of the ledger still running: they hold a slot of the active-job cap. */
export function activeJobs(ledger: Ledger): number {
  return ledger.entries.filter((e) => e.open).length;
}

/** Open entries stay until closed, whatever their age: they back the active-job count and a later refund. */
export function prune(ledger: Ledger, now: number, windowMs: number): void {
  ledger.entries = ledger.entries.filter((e) => e.open || e.at + windowMs > now);
}

// ---- Store keys: `usage:<guild>:<user>`, `usage:dm:<user>` and the server's `budget:<guild>`. ----

export function usageKey(scope: QuotaScope): string {
  return scope.guildId === null ? `usage:dm:${scope.userId}` : `usage:${scope.guildId}:${scope.userId}`;
}

export function serverKey(guildId: string): string {
  return `budget:${guildId}`;
}

/** Everything that touches one server's ledgers (its members and its own) shares this lock key. */
export function lockKey(scope: QuotaScope): string {
  return scope.guildId === null ? `dm:${scope.userId}` : `guild:${scope.guildId}`;
}

/** What a store key names; null for keys that are not ledgers. */
export type LedgerKey = { kind: 'member'; scope: QuotaScope } | { kind: 'server'; guildId: string };

export function parseLedgerKey(key: string): LedgerKey | null {
  const parts = key.split(':');
  if (parts[0] === 'budget' && parts.length === 2) return { kind: 'server', guildId: parts[1] ?? '' };
  if (parts[0] !== 'usage' || parts.length !== 3) return null;
  const [, guild = '', userId = ''] = parts;
  return { kind: 'member', scope: { guildId: guild === 'dm' ? null : guild, userId } };
}
