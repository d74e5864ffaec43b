import Keyv from 'keyv';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Ledger, QuotaScope } from '../../../../src/services/quota/ledger.js';
import type { GuildQuotaSettings, QuotaDefaults } from '../../../../src/services/quota/limits.js';
import { QuotaService } from '../../../../src/services/quota/service.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 1);
const defaults: QuotaDefaults = {
  limit: 5,
  windowHours: 24,
  costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 },
  maxActiveJobs: 10,
};
const alice: QuotaScope = { guildId: 'g1', userId: 'alice' };
const bob: QuotaScope = { guildId: 'g1', userId: 'bob' };

class FakeClock {
  constructor(public t = T0) {}
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

describe('QuotaService ledger', () => {
  let clock: FakeClock;
  let store: Keyv;
  let settings: Record<string, GuildQuotaSettings>;
  let quota: QuotaService;

  beforeEach(() => {
    clock = new FakeClock();
    store = new Keyv({ namespace: 'quota' });
    settings = {};
    quota = new QuotaService({ store, clock, defaults, settings: async (g) => settings[g] ?? {} });
  });

  it('GIVEN a fresh member WHEN reserving THEN units are held and remaining drops', async () => {
    expect(await quota.reserve(alice, 'j1', 'veo3_fast')).toEqual({ ok: true, units: 1, remaining: 4, limit: 5 });
    const status = await quota.status(alice);
    expect(status).toEqual({
      limit: 5,
      used: 1,
      held: 1,
      running: 1,
      remaining: 4,
      nextUnitAt: T0 + 24 * HOUR,
      activeJobs: 1,
      windowHours: 24,
      maxActiveJobs: 10,
      blocked: false,
      daily: null,
    });
    const stored = (await store.get<Ledger>('usage:g1:alice'))!;
    expect(stored.entries).toEqual([{ jobId: 'j1', units: 1, at: T0, state: 'held', open: true }]);
  });

  it('GIVEN per-model costs WHEN veo3 is reserved THEN it costs 4 units', async () => {
    expect(await quota.reserve(alice, 'j1', 'veo3')).toMatchObject({ ok: true, units: 4, remaining: 1 });
    expect(await quota.reserve(alice, 'j2', 'veo3_lite')).toMatchObject({ ok: true, units: 1, remaining: 0 });
    expect(await quota.reserve(alice, 'j3', 'veo3_lite')).toMatchObject({ ok: false, reason: 'quota', remaining: 0 });
  });

  it('GIVEN spent units WHEN the window slides THEN they come back one entry at a time (partial expiry)', async () => {
    settings.g1 = { limit: 6 };
    await quota.reserve(alice, 'j1', 'veo3_fast');
    clock.advance(2 * HOUR);
    await quota.reserve(alice, 'j2', 'veo3_fast');
    clock.advance(2 * HOUR);
    await quota.reserve(alice, 'j3', 'veo3');
    await quota.commit(alice, 'j1');
    await quota.commit(alice, 'j2');
    await quota.commit(alice, 'j3');
    expect(await quota.status(alice)).toMatchObject({ used: 6, held: 0, remaining: 0, nextUnitAt: T0 + 24 * HOUR });

    clock.t = T0 + 24 * HOUR - 1;
    expect(await quota.status(alice)).toMatchObject({ used: 6 });
    clock.t = T0 + 24 * HOUR;
    expect(await quota.status(alice)).toMatchObject({ used: 5, remaining: 1, nextUnitAt: T0 + 26 * HOUR });
    clock.t = T0 + 26 * HOUR;
    expect(await quota.status(alice)).toMatchObject({ used: 4, remaining: 2, nextUnitAt: T0 + 28 * HOUR });
    clock.t = T0 + 28 * HOUR;
    expect(await quota.status(alice)).toMatchObject({ used: 0, remaining: 6, nextUnitAt: null });
  });

  it('GIVEN a full allowance WHEN refused THEN retryAt is when enough units for that model are back', async () => {
    await quota.reserve(alice, 'j1', 'veo3_fast');
    clock.advance(HOUR);
    await quota.reserve(alice, 'j2', 'veo3_fast');
    clock.advance(HOUR);
    await quota.reserve(alice, 'j3', 'veo3_fast');
    // 3 used, 2 left; veo3 needs 4: two entries must expire first.
    expect(await quota.reserve(alice, 'j4', 'veo3')).toEqual({
      ok: false,
      reason: 'quota',
      retryAt: T0 + 25 * HOUR,
      remaining: 2,
      limit: 5,
      cost: 4,
      available: ['veo3_fast', 'veo3', 'veo3_lite'],
      maxActiveJobs: 10,
    });
    await quota.reserve(alice, 'j5', 'veo3_fast');
    await quota.reserve(alice, 'j6', 'veo3_fast');
    expect(await quota.reserve(alice, 'j7', 'veo3_fast')).toMatchObject({
      ok: false,
      reason: 'quota',
      retryAt: T0 + 24 * HOUR,
    });
  });

  it('GIVEN a refund WHEN repeated THEN it refunds once, frees the units and closes the job', async () => {
    await quota.reserve(alice, 'j1', 'veo3');
    expect(await quota.refund(alice, 'j1')).toBe(true);
    expect(await quota.refund(alice, 'j1')).toBe(false);
    expect(await quota.refund(alice, 'unknown')).toBe(false);
    expect(await quota.status(alice)).toMatchObject({ used: 0, remaining: 5, activeJobs: 0, nextUnitAt: null });
  });

  it('GIVEN a committed job WHEN refunded later THEN it is refunded (only refunded entries are final)', async () => {
    await quota.reserve(alice, 'j1', 'veo3_fast');
    await quota.commit(alice, 'j1');
    await quota.commit(alice, 'j1');
    expect(await quota.status(alice)).toMatchObject({ used: 1, held: 0 });
    expect(await quota.refund(alice, 'j1')).toBe(true);
    await quota.commit(alice, 'j1');
    expect(await quota.status(alice)).toMatchObject({ used: 0 });
  });

  it('GIVEN a job id already reserved WHEN reserved again THEN it is ok and charged once', async () => {
    await quota.reserve(alice, 'j1', 'veo3');
    expect(await quota.reserve(alice, 'j1', 'veo3')).toEqual({ ok: true, units: 4, remaining: 1, limit: 5 });
    expect(await quota.status(alice)).toMatchObject({ used: 4, activeJobs: 1 });
  });

  it('GIVEN a held job WHEN costs change THEN the held entry keeps the units it was charged', async () => {
    await quota.reserve(alice, 'j1', 'veo3');
    settings.g1 = { costs: { veo3: 2, veo3_fast: 1, veo3_lite: 1 } };
    expect(await quota.status(alice)).toMatchObject({ used: 4, held: 4 });
    expect(await quota.refund(alice, 'j1')).toBe(true);
    expect(await quota.reserve(alice, 'j2', 'veo3')).toMatchObject({ ok: true, units: 2, remaining: 3 });
  });

  it('GIVEN a reset WHEN checking THEN the window is fresh but running jobs still count as active', async () => {
    settings.g1 = { maxActiveJobs: 2 };
    await quota.reserve(alice, 'j1', 'veo3');
    await quota.reserve(alice, 'j2', 'veo3_fast');
    clock.advance(1_000);
    await quota.reset(alice);
    expect(await quota.status(alice)).toMatchObject({ used: 0, remaining: 5, activeJobs: 2, nextUnitAt: null });
    expect(await quota.reserve(alice, 'j3', 'veo3_fast')).toMatchObject({ ok: false, reason: 'active_jobs' });
    // A refund of a job from before the reset changes nothing in the fresh window.
    expect(await quota.refund(alice, 'j1')).toBe(true);
    expect(await quota.reserve(alice, 'j3', 'veo3')).toMatchObject({ ok: true, remaining: 1 });
  });

  it('GIVEN a DM WHEN reserving THEN the user has a bucket of their own, apart from any server', async () => {
    const dm: QuotaScope = { guildId: null, userId: 'alice' };
    await quota.reserve(alice, 'j1', 'veo3');
    expect(await quota.reserve(dm, 'j2', 'veo3')).toMatchObject({ ok: true, remaining: 1 });
    expect(await quota.status(dm)).toMatchObject({ used: 4 });
    expect(await store.get('usage:dm:alice')).toBeDefined();
    // DMs have no server ledger: nothing but the user's own bucket is written.
    expect(await store.get('budget:null')).toBeUndefined();
    await quota.commit(dm, 'j2');
    await quota.release(dm, 'j2');
    expect(await quota.forget(null, 'alice')).toBe(0);
    expect(await store.get('usage:dm:alice')).toBeUndefined();
    expect(await quota.status(dm)).toMatchObject({ used: 0 });
    expect(await quota.status(alice)).toMatchObject({ used: 4 });
  });

  it('GIVEN a DM WHEN the settings say blocked THEN settings are not consulted for DMs', async () => {
    const calls: string[] = [];
    const q = new QuotaService({
      store,
      clock,
      defaults,
      settings: async (g) => (calls.push(g), { blocked: ['alice'] }),
    });
    expect(await q.reserve({ guildId: null, userId: 'alice' }, 'j1', 'veo3_fast')).toMatchObject({ ok: true });
    expect(calls).toEqual([]);
  });

  it('GIVEN two members WHEN one uses their allowance THEN the other is untouched', async () => {
    await quota.reserve(alice, 'j1', 'veo3');
    expect(await quota.status(bob)).toMatchObject({ used: 0, remaining: 5 });
  });

  it('GIVEN max active jobs WHEN one more is asked THEN active_jobs, until one closes', async () => {
    settings.g1 = { maxActiveJobs: 2 };
    await quota.reserve(alice, 'j1', 'veo3_fast');
    await quota.reserve(alice, 'j2', 'veo3_fast');
    expect(await quota.reserve(alice, 'j3', 'veo3_fast')).toEqual({
      ok: false,
      reason: 'active_jobs',
      retryAt: null,
      remaining: 3,
      limit: 5,
      cost: 1,
      available: ['veo3_fast', 'veo3', 'veo3_lite'],
      maxActiveJobs: 2,
    });
    await quota.commit(alice, 'j1');
    await quota.release(alice, 'j1');
    expect(await quota.status(alice)).toMatchObject({ activeJobs: 1, used: 2 });
    expect(await quota.reserve(alice, 'j3', 'veo3_fast')).toMatchObject({ ok: true });
  });

  it('GIVEN a blocked member WHEN reserving THEN blocked speaks first and nothing is charged', async () => {
    settings.g1 = { blocked: ['alice'], budget: 0, maxActiveJobs: 0 };
    expect(await quota.reserve(alice, 'j1', 'veo3')).toEqual({
      ok: false,
      reason: 'blocked',
      retryAt: null,
      remaining: 5,
      limit: 5,
      cost: 4,
      available: [],
      maxActiveJobs: 0,
    });
    expect(await store.get('usage:g1:alice')).toBeUndefined();
  });

  it('GIVEN a server budget WHEN spent THEN budget is refused before active jobs and quota, until the day rolls', async () => {
    settings.g1 = { budget: 5 };
    await quota.reserve(alice, 'a1', 'veo3');
    clock.advance(HOUR);
    await quota.reserve(bob, 'b1', 'veo3_fast');
    expect(await quota.reserve(bob, 'b2', 'veo3_fast')).toMatchObject({
      ok: false,
      reason: 'budget',
      // The server ledger counts by the hour: a1's hour ends at T0 + 1 h, and it counts 24 h from then.
      retryAt: T0 + 25 * HOUR,
      remaining: 4,
      limit: 5,
    });
    // A refund gives the budget back too.
    expect(await quota.refund(alice, 'a1')).toBe(true);
    expect(await quota.reserve(bob, 'b2', 'veo3')).toMatchObject({ ok: true, remaining: 0 });
    expect(await quota.reserve(alice, 'a2', 'veo3_fast')).toMatchObject({
      ok: false,
      reason: 'budget',
      retryAt: T0 + 26 * HOUR,
    });
    clock.t = T0 + 26 * HOUR;
    expect(await quota.reserve(alice, 'a2', 'veo3_fast')).toMatchObject({ ok: true });
  });

  it('GIVEN a budget smaller than a model WHEN reserving that model THEN model_unavailable: it could never run', async () => {
    settings.g1 = { budget: 3 };
    expect(await quota.reserve(alice, 'j1', 'veo3')).toMatchObject({
      ok: false,
      reason: 'model_unavailable',
      retryAt: null,
      available: ['veo3_fast', 'veo3_lite'],
    });
  });

  it('GIVEN a model dearer than the limit WHEN reserved THEN model_unavailable, never quota', async () => {
    settings.g1 = { limit: 3 };
    expect(await quota.reserve(alice, 'j1', 'veo3')).toEqual({
      ok: false,
      reason: 'model_unavailable',
      retryAt: null,
      remaining: 3,
      limit: 3,
      cost: 4,
      available: ['veo3_fast', 'veo3_lite'],
      maxActiveJobs: 10,
    });
    expect(await store.get('usage:g1:alice')).toBeUndefined();
  });

  it('GIVEN old closed entries WHEN writing THEN they are pruned, while open old ones stay', async () => {
    settings.g1 = { windowHours: 1 };
    await quota.reserve(alice, 'old-closed', 'veo3_fast');
    await quota.release(alice, 'old-closed');
    await quota.reserve(alice, 'old-open', 'veo3_fast');
    clock.advance(2 * HOUR);
    await quota.reserve(alice, 'new', 'veo3_fast');
    const stored = (await store.get<Ledger>('usage:g1:alice'))!;
    expect(stored.entries.map((e) => e.jobId)).toEqual(['old-open', 'new']);
    expect(await quota.status(alice)).toMatchObject({ used: 1, activeJobs: 2 });
    expect(await quota.refund(alice, 'old-open')).toBe(true);
  });

  it('GIVEN a damaged ledger WHEN read THEN it starts afresh instead of locking the member out', async () => {
    await store.set('usage:g1:alice', { nonsense: true });
    expect(await quota.reserve(alice, 'j1', 'veo3_fast')).toMatchObject({ ok: true, remaining: 4 });
  });

  it('GIVEN a store write that fails WHEN reserving THEN the reservation rejects instead of granting', async () => {
    const failing = new Keyv({ namespace: 'quota' });
    failing.set = async () => false;
    const q = new QuotaService({ store: failing, clock, defaults });
    await expect(q.reserve(alice, 'j1', 'veo3_fast')).rejects.toThrow(/write failed/);
  });

  it('GIVEN entries left by a crash WHEN reconciled THEN held jobs are settled by their fate, spent entries of failed jobs refunded, and delivered ones closed', async () => {
    settings.g1 = { budget: 100 };
    const dm: QuotaScope = { guildId: null, userId: 'carol' };
    await quota.reserve(alice, 'missing', 'veo3_fast');
    await quota.reserve(alice, 'failed', 'veo3_fast');
    await quota.reserve(alice, 'delivered', 'veo3_fast');
    await quota.reserve(bob, 'active', 'veo3_fast');
    await quota.reserve(bob, 'spent-final', 'veo3_fast');
    await quota.commit(bob, 'spent-final');
    await quota.reserve(bob, 'spent-delivered', 'veo3_fast');
    await quota.commit(bob, 'spent-delivered');
    await quota.reserve(dm, 'dm-failed', 'veo3');
    await quota.reserve(dm, 'dm-done', 'veo3_fast');
    await quota.commit(dm, 'dm-done');
    await quota.release(dm, 'dm-done');
    const fates = {
      missing: 'missing',
      failed: 'failed',
      delivered: 'delivered',
      active: 'active',
      'spent-final': 'failed',
      'spent-delivered': 'delivered',
      'dm-failed': 'failed',
      'dm-done': 'delivered',
    } as const;
    const asked: string[] = [];
    const result = await quota.reconcile(async (id) => {
      asked.push(id);
      return fates[id as keyof typeof fates];
    });
    // The failed job whose refund never reached the ledger is refunded now, not merely closed.
    expect(result).toEqual({ refunded: 4, committed: 1, closed: 1 });
    // Each job is looked up once, even though its budget twin is settled too; closed jobs are not asked about.
    expect(asked.sort()).toEqual([
      'active',
      'delivered',
      'dm-failed',
      'failed',
      'missing',
      'spent-delivered',
      'spent-final',
    ]);
    expect(await quota.status(alice)).toMatchObject({ used: 1, held: 0, activeJobs: 0 });
    expect(await quota.status(bob)).toMatchObject({ used: 2, held: 1, activeJobs: 1 });
    expect(await quota.status(dm)).toMatchObject({ used: 1, held: 0, activeJobs: 0 });
    // The server ledger keeps only running jobs as entries; settled ones are folded into their hour.
    const budget = (await store.get<Ledger>('budget:g1'))!;
    expect(budget.entries.map((e) => e.jobId)).toEqual(['active']);
    expect(budget.hours).toEqual([{ at: T0 + HOUR, units: 2 }]);
    expect(await quota.refund(alice, 'missing')).toBe(false);
    // A second run finds nothing left to do.
    expect(await quota.reconcile(async (id) => fates[id as keyof typeof fates])).toEqual({
      refunded: 0,
      committed: 0,
      closed: 0,
    });
  });
});
