import { describe, expect, it } from 'vitest';
import {
  fitsAt,
  ledgerUsage,
  lockKey,
  nextUnitAt,
  parseLedgerKey,
  serverKey,
  usageKey,
  type Ledger,
  type QuotaScope,
} from '../../../../src/services/quota/ledger.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 1);

describe('ledger store keys', () => {
  it.each<QuotaScope>([
    { guildId: '123456789012345678', userId: '223456789012345678' },
    { guildId: null, userId: '223456789012345678' },
  ])('GIVEN the member scope %j THEN its key reads back as that scope', (scope) => {
    expect(parseLedgerKey(usageKey(scope))).toEqual({ kind: 'member', scope });
  });

  it('GIVEN a server key THEN it reads back as the server, locked with its members', () => {
    expect(parseLedgerKey(serverKey('g1'))).toEqual({ kind: 'server', guildId: 'g1' });
    expect(lockKey({ guildId: 'g1', userId: '' })).toBe(lockKey({ guildId: 'g1', userId: 'alice' }));
    expect(lockKey({ guildId: null, userId: 'alice' })).not.toBe(lockKey({ guildId: null, userId: 'bob' }));
  });

  it.each(['usage:g1', 'budget', 'budget:g1:extra', 'lease:x', 'usage:g1:u1:more'])(
    'GIVEN %j THEN it is not a ledger key',
    (key) => {
      expect(parseLedgerKey(key)).toBeNull();
    },
  );
});

describe('ledger usage', () => {
  const ledger: Ledger = {
    resetAt: 0,
    entries: [
      { jobId: 'old', units: 2, at: T0 - 30 * HOUR, state: 'spent', open: false },
      { jobId: 'b', units: 1, at: T0 - 2 * HOUR, state: 'spent', open: false },
      { jobId: 'a', units: 2, at: T0 - 5 * HOUR, state: 'held', open: true },
      { jobId: 'r', units: 4, at: T0 - HOUR, state: 'refunded', open: false },
    ],
  };

  it('GIVEN entries in and out of the window THEN only unrefunded ones inside it count, oldest first', () => {
    const usage = ledgerUsage(ledger, T0, 24 * HOUR);
    expect(usage).toMatchObject({ used: 3, held: 2, running: 2 });
    expect(usage.counted).toEqual([
      { at: T0 - 5 * HOUR, units: 2 },
      { at: T0 - 2 * HOUR, units: 1 },
    ]);
    expect(nextUnitAt(usage, 24 * HOUR)).toBe(T0 - 5 * HOUR + 24 * HOUR);
  });

  it('GIVEN a cap THEN fitsAt is when enough units leave; never when the cost alone is over the cap', () => {
    const usage = ledgerUsage(ledger, T0, 24 * HOUR);
    expect(fitsAt(usage, 2, 4, 24 * HOUR)).toBe(T0 - 5 * HOUR + 24 * HOUR);
    expect(fitsAt(usage, 4, 4, 24 * HOUR)).toBe(T0 - 2 * HOUR + 24 * HOUR);
    expect(fitsAt(usage, 5, 4, 24 * HOUR)).toBeNull();
    expect(nextUnitAt(ledgerUsage({ resetAt: T0, entries: ledger.entries }, T0, 24 * HOUR), 24 * HOUR)).toBeNull();
  });
});
