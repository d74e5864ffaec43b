import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { hourEnd, ledgerUsage, prune, type Ledger } from '../../../../src/services/quota/ledger.js';
import type { QuotaDefaults } from '../../../../src/services/quota/limits.js';
import { QuotaService } from '../../../../src/services/quota/service.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2025, 0, 1);
const defaults: QuotaDefaults = {
  limit: 20,
  windowHours: 24,
  costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 },
  maxActiveJobs: 5,
};

describe('the server’s 24 h ledger, by the hour', () => {
  it('GIVEN a busy day WHEN every job settles THEN the stored value holds one tally per hour and no job at all', async () => {
    const store = new Keyv({ namespace: 'quota' });
    const clock = { t: T0, now: () => clock.t };
    const quota = new QuotaService({ store, clock, defaults, settings: async () => ({ budget: 100_000 }) });
    const jobs = 3_000;
    for (let i = 0; i < jobs; i++) {
      clock.t = T0 + Math.floor((i * DAY) / jobs);
      const scope = { guildId: 'g1', userId: `member${i % 300}` };
      await quota.reserve(scope, `j${i}`, 'veo3_fast');
      await quota.commit(scope, `j${i}`);
      await quota.release(scope, `j${i}`);
    }
    const stored = (await store.get<Ledger>('budget:g1'))!;
    expect(stored.entries).toEqual([]);
    expect(stored.hours).toHaveLength(24);
    expect(stored.hours!.reduce((sum, h) => sum + h.units, 0)).toBe(jobs);
    expect(JSON.stringify(stored).length).toBeLessThan(1_200);
    expect(await quota.serverUsage('g1')).toMatchObject({ used: jobs, running: 0, remaining: 100_000 - jobs });
  });

  it('GIVEN a server ledger stored one entry per job (before the buckets) WHEN next written THEN it folds into hours and counts the same', async () => {
    const store = new Keyv({ namespace: 'quota' });
    const entries = [
      { jobId: 'a', units: 4, at: T0 + 10 * 60_000, state: 'spent' as const, open: false },
      { jobId: 'b', units: 1, at: T0 + 50 * 60_000, state: 'spent' as const, open: false },
      { jobId: 'c', units: 1, at: T0 + 70 * 60_000, state: 'refunded' as const, open: false },
      { jobId: 'd', units: 1, at: T0 + 80 * 60_000, state: 'held' as const, open: true },
    ];
    await store.set('budget:g1', { resetAt: 0, entries });
    const clock = { t: T0 + 2 * HOUR, now: () => clock.t };
    const quota = new QuotaService({ store, clock, defaults, settings: async () => ({ budget: 7 }) });
    expect(await quota.serverUsage('g1')).toMatchObject({ used: 6, held: 1, nextUnitAt: T0 + HOUR + DAY });
    expect(await quota.reserve({ guildId: 'g1', userId: 'u' }, 'e', 'veo3_fast')).toMatchObject({ ok: true });
    const stored = (await store.get<Ledger>('budget:g1'))!;
    expect(stored.entries.map((e) => e.jobId)).toEqual(['d', 'e']);
    expect(stored.hours).toEqual([{ at: T0 + HOUR, units: 5 }]);
    expect(await quota.reserve({ guildId: 'g1', userId: 'v' }, 'f', 'veo3_fast')).toMatchObject({
      ok: false,
      reason: 'budget',
      retryAt: T0 + HOUR + DAY,
    });
  });

  it('GIVEN hours past the window WHEN pruned THEN they go, and open entries stay whatever their age', () => {
    const ledger: Ledger = {
      resetAt: 0,
      entries: [{ jobId: 'old-open', units: 1, at: T0, state: 'spent', open: true }],
      hours: [
        { at: T0 + HOUR, units: 3 },
        { at: T0 + 30 * HOUR, units: 2 },
      ],
    };
    prune(ledger, T0 + 26 * HOUR, DAY);
    expect(ledger.hours).toEqual([{ at: T0 + 30 * HOUR, units: 2 }]);
    expect(ledger.entries).toHaveLength(1);
    // An open entry counts like its hour would: from the hour's end, for the window.
    expect(hourEnd(T0 + 59 * 60_000)).toBe(T0 + HOUR);
    expect(ledgerUsage(ledger, T0 + 24 * HOUR + 1, DAY).used).toBe(2 + 1);
    expect(ledgerUsage(ledger, T0 + 25 * HOUR, DAY).used).toBe(2);
  });
});
