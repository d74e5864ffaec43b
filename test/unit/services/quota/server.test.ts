import Keyv from 'keyv';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Ledger, QuotaScope } from '../../../../src/services/quota/ledger.js';
import { resolveLimits, type GuildQuotaSettings, type QuotaDefaults } from '../../../../src/services/quota/limits.js';
import { QuotaService } from '../../../../src/services/quota/service.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 1);
const defaults: QuotaDefaults = {
  limit: 5,
  windowHours: 24,
  costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 },
  maxActiveJobs: 2,
};
const alice: QuotaScope = { guildId: 'g1', userId: 'alice' };
const bob: QuotaScope = { guildId: 'g1', userId: 'bob' };

describe('QuotaService: server settings, the server ledger and forget', () => {
  let clock: { t: number; now: () => number };
  let store: Keyv;
  let settings: Record<string, GuildQuotaSettings>;
  let quota: QuotaService;

  beforeEach(() => {
    clock = { t: T0, now: () => clock.t };
    store = new Keyv({ namespace: 'quota' });
    settings = {};
    quota = new QuotaService({ store, clock, defaults, settings: async (g) => settings[g] ?? {} });
  });

  it('GIVEN a server with no budget WHEN members spend THEN the server ledger still tallies the last 24 h', async () => {
    await quota.reserve(alice, 'a1', 'veo3');
    await quota.commit(alice, 'a1');
    await quota.reserve(bob, 'b1', 'veo3_fast');
    expect(await quota.serverUsage('g1')).toEqual({
      used: 5,
      held: 1,
      running: 5,
      budget: null,
      remaining: null,
      // Counted by the hour: the hour of T0 ends at T0 + 1 h, and its units count 24 h from then.
      nextUnitAt: T0 + 25 * HOUR,
    });
    await quota.refund(bob, 'b1');
    expect(await quota.serverUsage('g1')).toMatchObject({ used: 4, held: 0 });
    clock.t = T0 + 25 * HOUR - 1;
    expect(await quota.serverUsage('g1')).toMatchObject({ used: 4 });
    clock.t = T0 + 25 * HOUR;
    expect(await quota.serverUsage('g1')).toMatchObject({ used: 0, nextUnitAt: null });
  });

  it('GIVEN units already spent today WHEN a budget is set later THEN it counts them at once', async () => {
    await quota.reserve(alice, 'a1', 'veo3');
    settings.g1 = { budget: 4 };
    expect(await quota.serverUsage('g1')).toMatchObject({ used: 4, budget: 4, remaining: 0 });
    expect(await quota.reserve(bob, 'b1', 'veo3_fast')).toMatchObject({
      ok: false,
      reason: 'budget',
      retryAt: T0 + 25 * HOUR,
    });
  });

  it('GIVEN a per-server max active jobs WHEN exceeded THEN the refusal carries that max, not the default', async () => {
    settings.g1 = { maxActiveJobs: 1 };
    await quota.reserve(alice, 'a1', 'veo3_fast');
    expect(await quota.reserve(alice, 'a2', 'veo3_fast')).toMatchObject({
      ok: false,
      reason: 'active_jobs',
      maxActiveJobs: 1,
    });
    expect(await quota.status(alice)).toMatchObject({ activeJobs: 1, maxActiveJobs: 1 });
  });

  it('GIVEN one model cost overridden WHEN resolving THEN the other models keep the defaults', async () => {
    settings.g1 = { costs: { veo3_fast: 2 }, limit: 3, windowHours: 6 };
    expect(await quota.limits('g1')).toEqual({
      limit: 3,
      windowHours: 6,
      costs: { veo3: 4, veo3_fast: 2, veo3_lite: 1 },
      maxActiveJobs: 2,
      budget: null,
      available: ['veo3_fast', 'veo3_lite'],
      clamped: [],
    });
    // DMs never read server settings.
    expect(await quota.limits(null)).toMatchObject({ limit: 5, costs: defaults.costs });
    expect(await quota.reserve(alice, 'a1', 'veo3_fast')).toMatchObject({ ok: true, units: 2, remaining: 1 });
  });

  it('GIVEN a shorter window set by an admin WHEN checking THEN spent units come back on the new window', async () => {
    await quota.reserve(alice, 'a1', 'veo3');
    settings.g1 = { windowHours: 2 };
    clock.t = T0 + HOUR;
    expect(await quota.status(alice)).toMatchObject({ used: 4, nextUnitAt: T0 + 2 * HOUR, windowHours: 2 });
    clock.t = T0 + 2 * HOUR;
    expect(await quota.status(alice)).toMatchObject({ used: 0, remaining: 5 });
  });

  it('GIVEN a job kie accepted WHEN it is still running THEN its units count as running until it closes', async () => {
    await quota.reserve(alice, 'a1', 'veo3');
    await quota.commit(alice, 'a1');
    expect(await quota.status(alice)).toMatchObject({ used: 4, held: 0, running: 4 });
    await quota.release(alice, 'a1');
    expect(await quota.status(alice)).toMatchObject({ used: 4, held: 0, running: 0 });
  });

  it('GIVEN a blocked member WHEN asking for status THEN blocked is reported', async () => {
    settings.g1 = { blocked: ['alice'] };
    expect(await quota.status(alice)).toMatchObject({ blocked: true });
    expect(await quota.status(bob)).toMatchObject({ blocked: false });
  });

  it('GIVEN a running job WHEN the member is forgotten THEN its entry stays so it can still settle', async () => {
    await quota.reserve(alice, 'done', 'veo3_fast');
    await quota.commit(alice, 'done');
    await quota.release(alice, 'done');
    await quota.reserve(alice, 'running', 'veo3');
    expect(await quota.forget('g1', 'alice')).toBe(1);
    const stored = (await store.get<Ledger>('usage:g1:alice'))!;
    expect(stored.entries.map((e) => e.jobId)).toEqual(['running']);
    expect(await quota.refund(alice, 'running')).toBe(true);
    expect(await quota.status(alice)).toMatchObject({ used: 0, activeJobs: 0 });
    // The server's own ledger carries no member ids and keeps the day's total.
    expect(await quota.serverUsage('g1')).toMatchObject({ used: 1 });
    expect(await quota.forget('g1', 'alice')).toBe(0);
    expect(await store.get('usage:g1:alice')).toBeUndefined();
  });
});

describe('resolveLimits', () => {
  it('GIVEN a budget below a model cost THEN that model is unavailable', () => {
    expect(resolveLimits(defaults, { budget: 3 }).available).toEqual(['veo3_fast', 'veo3_lite']);
  });

  it('GIVEN a limit below every cost THEN nothing is available', () => {
    expect(resolveLimits(defaults, { limit: 1, costs: { veo3_fast: 2, veo3_lite: 2 } }).available).toEqual([]);
  });
});
