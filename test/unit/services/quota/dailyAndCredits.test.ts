import Keyv from 'keyv';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  CachedBalance,
  CreditBudget,
  hdSpendId,
  parseUpgradeSpendId,
  upgradeSpendId,
} from '../../../../src/services/quota/credits.js';
import { UserDailyUnits } from '../../../../src/services/quota/daily.js';
import type { GuildQuotaSettings, QuotaDefaults } from '../../../../src/services/quota/limits.js';
import { QuotaService } from '../../../../src/services/quota/service.js';
import { KeyvSharedLedger } from '../../../../src/services/quota/shared.js';
import { silentLogger } from '../../../../src/logger.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 1, 9, 15);
const NEXT_HOUR = Date.UTC(2025, 0, 1, 10);
const defaults: QuotaDefaults = {
  limit: 5,
  windowHours: 24,
  costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 },
  maxActiveJobs: 5,
};
const prices = { models: { veo3: 250, veo3_fast: 60, veo3_lite: 30 }, hd1080p: 5, uhd4k: 120 };

describe('USER_DAILY_UNITS and the credit budget beside the unit ledgers', () => {
  let clock: { t: number; now: () => number };
  let store: Keyv;
  let settings: Record<string, GuildQuotaSettings>;
  let credits: CreditBudget;
  let quota: QuotaService;

  beforeEach(() => {
    clock = { t: T0, now: () => clock.t };
    store = new Keyv({ namespace: 'quota' });
    settings = {};
    credits = new CreditBudget({
      ledger: new KeyvSharedLedger('credits', store, silentLogger),
      budget: 1000,
      prices,
      clock,
    });
    const daily = new UserDailyUnits(new KeyvSharedLedger('daily', store, silentLogger), 3, clock);
    quota = new QuotaService({ store, clock, defaults, settings: async (g) => settings[g] ?? {}, daily, credits });
  });

  it('GIVEN a member of several servers (and DMs) THEN their units across all of them stop at USER_DAILY_UNITS', async () => {
    expect(await quota.reserve({ guildId: 'g1', userId: 'u' }, 'j1', 'veo3_fast')).toMatchObject({ ok: true });
    expect(await quota.reserve({ guildId: 'g2', userId: 'u' }, 'j2', 'veo3_fast')).toMatchObject({ ok: true });
    expect(await quota.reserve({ guildId: null, userId: 'u' }, 'j3', 'veo3_fast')).toMatchObject({ ok: true });
    expect(await quota.reserve({ guildId: 'g3', userId: 'u' }, 'j4', 'veo3_fast')).toEqual({
      ok: false,
      reason: 'daily',
      retryAt: NEXT_HOUR + 24 * HOUR,
      remaining: 0,
      limit: 3,
      cost: 1,
      available: ['veo3_fast', 'veo3', 'veo3_lite'],
      maxActiveJobs: 5,
    });
    // Refused there: nothing was written to g3's ledgers.
    expect(await quota.status({ guildId: 'g3', userId: 'u' })).toMatchObject({
      used: 0,
      daily: { used: 3, limit: 3, remaining: 0, nextUnitAt: NEXT_HOUR + 24 * HOUR },
    });
    expect(await quota.serverUsage('g3')).toMatchObject({ used: 0 });
    // A failed job gives its day back with its units.
    expect(await quota.refund({ guildId: 'g2', userId: 'u' }, 'j2')).toBe(true);
    expect(await quota.reserve({ guildId: 'g3', userId: 'u' }, 'j4', 'veo3_fast')).toMatchObject({ ok: true });
  });

  it('GIVEN a member out of units here AND for the day THEN the server’s own quota speaks first (DESIGN §1.4)', async () => {
    settings.g1 = { limit: 3 };
    for (const id of ['a', 'b', 'c']) await quota.reserve({ guildId: 'g1', userId: 'u' }, id, 'veo3_fast');
    expect(await quota.reserve({ guildId: 'g1', userId: 'u' }, 'd', 'veo3_fast')).toMatchObject({
      reason: 'quota',
      limit: 3,
    });
    expect(await quota.reserve({ guildId: 'g2', userId: 'u' }, 'e', 'veo3_fast')).toMatchObject({ reason: 'daily' });
    // A cost past the whole day can never fit: no time to promise.
    settings.g4 = { costs: { veo3_fast: 4 } };
    expect(await quota.reserve({ guildId: 'g4', userId: 'fresh' }, 'f', 'veo3_fast')).toMatchObject({
      reason: 'daily',
      retryAt: null,
    });
  });

  it('GIVEN a job WHEN kie accepts it, then it is delivered THEN its credits stand; WHEN kie fails another THEN its credits come back', async () => {
    const scope = { guildId: 'g1', userId: 'u' };
    expect(await credits.reserve('ok', { kind: 'video', model: 'veo3' }, 'g1')).toEqual({ ok: true });
    await quota.reserve(scope, 'ok', 'veo3');
    await quota.commit(scope, 'ok');
    expect(await credits.usage()).toMatchObject({ used: 250, held: 0 });
    await quota.release(scope, 'ok');
    expect(await credits.reserve('bad', { kind: 'video', model: 'veo3_fast' }, 'g1')).toEqual({ ok: true });
    await quota.reserve(scope, 'bad', 'veo3_fast');
    expect(await credits.usage()).toMatchObject({ used: 310, held: 60 });
    await quota.refund(scope, 'bad');
    expect(await credits.usage()).toEqual({ used: 250, held: 0, budget: 1000, nextFreeAt: NEXT_HOUR + 24 * HOUR });
    // Stored as hours: the delivered job left no entry behind.
    expect((await store.get<{ entries: unknown[] }>('credits'))?.entries).toEqual([]);
  });

  it('GIVEN prices per call THEN a generation, an extension (its model), 1080P and 4K cost what the operator set, and a call past the budget is never', async () => {
    expect(credits.priceOf({ kind: 'video', model: 'veo3_lite' })).toBe(30);
    expect(credits.priceOf({ kind: '1080p' })).toBe(5);
    expect(credits.priceOf({ kind: '4k' })).toBe(120);
    const tiny = new CreditBudget({
      ledger: new KeyvSharedLedger('credits', new Keyv(), silentLogger),
      budget: 100,
      prices,
      clock,
    });
    expect(await tiny.reserve('q', { kind: 'video', model: 'veo3' }, null)).toEqual({ ok: false, retryAt: null });
    expect(await tiny.reserve('f', { kind: 'video', model: 'veo3_fast' }, null)).toEqual({ ok: true });
    expect(await tiny.reserve('g', { kind: 'video', model: 'veo3_fast' }, null)).toEqual({
      ok: false,
      retryAt: NEXT_HOUR + 24 * HOUR,
    });
    const hd = hdSpendId('job123', '1300000000000000001');
    expect(parseUpgradeSpendId(hd)).toEqual({ name: '1080p', jobId: 'job123', interactionId: '1300000000000000001' });
    const uhd = upgradeSpendId('4k', 'job123', '1300000000000000002');
    expect(uhd).toBe('4k:job123:1300000000000000002');
    expect(parseUpgradeSpendId(uhd)).toEqual({ name: '4k', jobId: 'job123', interactionId: '1300000000000000002' });
    expect(parseUpgradeSpendId('job123')).toBeNull();
  });
});

describe('CachedBalance', () => {
  it('GIVEN many reads THEN kie is asked once per period, concurrent readers share it, and a failed read keeps the last value', async () => {
    const clock = { t: T0, now: () => clock.t };
    let calls = 0;
    let fail = false;
    const balance = new CachedBalance(
      async () => {
        calls++;
        if (fail) throw new Error('kie down');
        return 1000 - calls;
      },
      clock,
      5 * 60_000,
    );
    const [a, b] = await Promise.all([balance.get(), balance.get()]);
    expect(a).toEqual({ credits: 999, at: T0 });
    expect(b).toBe(a);
    clock.t += 4 * 60_000;
    expect(await balance.get()).toEqual({ credits: 999, at: T0 });
    expect(calls).toBe(1);
    clock.t += 60_000;
    fail = true;
    expect(await balance.get()).toEqual({ credits: 999, at: T0 });
    expect(calls).toBe(2);
    fail = false;
    expect(await balance.get()).toEqual({ credits: 997, at: clock.t });
  });

  it('GIVEN kie never answered THEN null', async () => {
    const balance = new CachedBalance(() => Promise.reject(new Error('no')), { now: () => T0 }, 1000);
    expect(await balance.get()).toBeNull();
  });
});
