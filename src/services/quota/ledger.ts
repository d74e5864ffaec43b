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
  /** The guild whose process settles the entry at start (shared ledgers only; null: the DM buckets). */
  owner: z.string().nullable().exactOptional(),
});
/** The units of settled spends of one hour, counted until `at` (the hour's end) plus the window. */
const hourSchema = z.object({ at: z.number(), units: z.number() });
const ledgerSchema = z.object({
  resetAt: z.number(),
  entries: z.array(entrySchema),
  hours: z.array(hourSchema).exactOptional(),
});

export type LedgerEntry = z.infer<typeof entrySchema>;
export type LedgerHour = z.infer<typeof hourSchema>;
/**
 * A member's ledger keeps one entry per job of its window. A bucketed ledger (`hours` present: a server's,
 * the bot's credits, a user's day across servers) keeps entries only while their job runs, and folds
 * every settled one into the hour it was reserved in, so a busy day weighs what a quiet one does.
 */
export type Ledger = z.infer<typeof ledgerSchema>;

export const HOUR_MS = 3_600_000;
/** A server's shared ledger (its budget, and the day /veo-admin status reports) spans a rolling 24 h. */
export const SERVER_WINDOW_MS = 24 * HOUR_MS;

/**
 * The end of the hour `at` falls in. A bucketed ledger counts a spend from then for the whole window,
 * 24 to 25 h in all: it may hold a unit up to an hour longer, never give one back early.
 */
export function hourEnd(at: number): number {
  return Math.floor(at / HOUR_MS) * HOUR_MS + HOUR_MS;
}

export function emptyLedger(bucketed = false): Ledger {
  return bucketed ? { resetAt: 0, entries: [], hours: [] } : { resetAt: 0, entries: [] };
}

export function parseLedger(value: unknown): Ledger | null {
  const parsed = ledgerSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

export function copyLedger(ledger: Ledger): Ledger {
  const copy: Ledger = { resetAt: ledger.resetAt, entries: ledger.entries.map((e) => ({ ...e })) };
  if (ledger.hours) copy.hours = ledger.hours.map((h) => ({ ...h }));
  return copy;
}

/** Units that count from `at` for the length of the window. */
export interface Tally {
  at: number;
  units: number;
}

/** Sums of what counts now: not refunded, inside the window, not before the last reset. */
export interface LedgerUsage {
  used: number;
  held: number;
  /** Units of jobs still running (held or already accepted by kie): what a kie failure would give back. */
  running: number;
  /** What counts, oldest first: entries, and a bucketed ledger's hours. */
  counted: Tally[];
}

export function ledgerUsage(ledger: Ledger, now: number, windowMs: number): LedgerUsage {
  const bucketed = ledger.hours !== undefined;
  const inWindow = (at: number) => at + windowMs > now && at >= ledger.resetAt;
  const counted: Tally[] = [];
  let held = 0;
  let running = 0;
  for (const e of ledger.entries) {
    const at = bucketed ? hourEnd(e.at) : e.at;
    if (e.state === 'refunded' || !inWindow(at)) continue;
    counted.push({ at, units: e.units });
    if (e.state === 'held') held += e.units;
    if (e.open) running += e.units;
  }
  for (const h of ledger.hours ?? []) if (inWindow(h.at)) counted.push({ at: h.at, units: h.units });
  counted.sort((a, b) => a.at - b.at);
  const used = counted.reduce((sum, t) => sum + t.units, 0);
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

/**
 * Open entries stay until closed, whatever their age: they back the active-job count and a later refund.
 * A bucketed ledger folds each settled entry into its hour (a refunded one leaves nothing) and drops
 * hours past the window; a member's keeps closed entries until they leave the window.
 */
export function prune(ledger: Ledger, now: number, windowMs: number): void {
  if (ledger.hours === undefined) {
    ledger.entries = ledger.entries.filter((e) => e.open || e.at + windowMs > now);
    return;
  }
  const hours = new Map(ledger.hours.map((h) => [h.at, h.units]));
  ledger.entries = ledger.entries.filter((e) => {
    if (e.open || e.state === 'held') return true;
    if (e.state === 'spent') hours.set(hourEnd(e.at), (hours.get(hourEnd(e.at)) ?? 0) + e.units);
    return false;
  });
  ledger.hours = [...hours]
    .filter(([at, units]) => units > 0 && at + windowMs > now)
    .sort(([a], [b]) => a - b)
    .map(([at, units]) => ({ at, units }));
}

// ---- Store keys: `usage:<guild>:<user>`, `usage:dm:<user>` and the server's `budget:<guild>`. ----

export function usageKey(scope: QuotaScope): string {
  return scope.guildId === null ? `usage:dm:${scope.userId}` : `usage:${scope.guildId}:${scope.userId}`;
}

export function serverKey(guildId: string): string {
  return `budget:${guildId}`;
}

/** Every ledger but a member's is bucketed (DESIGN §8: a server's 24 h ledger and the credit ledger by the hour). */
export function isBucketedKey(key: string): boolean {
  return !key.startsWith('usage:');
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
