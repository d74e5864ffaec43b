import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreLocation } from '../../../../src/config.js';
import type { QuotaScope } from '../../../../src/services/quota/ledger.js';
import type { GuildQuotaSettings, QuotaDefaults } from '../../../../src/services/quota/limits.js';
import { QuotaService } from '../../../../src/services/quota/service.js';
import { openStores, type Stores } from '../../../../src/services/runtime/store.js';
import { durableBackends } from '../../../helpers/stores.js';

const T0 = Date.UTC(2025, 0, 1);
const defaults: QuotaDefaults = {
  limit: 3,
  windowHours: 24,
  costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 },
  maxActiveJobs: 50,
};
const alice: QuotaScope = { guildId: 'g1', userId: 'alice' };
const bob: QuotaScope = { guildId: 'g1', userId: 'bob' };

/** The race lives in the store, so these run on each store production runs on, through openStores. */
describe.each(durableBackends)('QuotaService on $name', (backend) => {
  let location: StoreLocation;
  let opened: Stores[];
  const clock = { now: () => T0 };

  async function openQuota(settings: GuildQuotaSettings = {}): Promise<QuotaService> {
    const stores = openStores(location);
    opened.push(stores);
    await stores.ready;
    return new QuotaService({ store: stores.quota, clock, defaults, settings: async () => settings });
  }

  beforeEach(async () => {
    opened = [];
    location = await backend.fresh();
  });

  afterEach(async () => {
    // A second disconnect of the same SQLite adapter rejects (SQLITE_MISUSE), so each is closed exactly once.
    await Promise.all(opened.splice(0).map((s) => s.close()));
    if (location) await backend.remove(location);
  });

  it('GIVEN an allowance of 3 WHEN 50 reservations race for one member THEN exactly 3 are granted', async () => {
    const quota = await openQuota();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => quota.reserve(alice, `job${i}`, 'veo3_fast')),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(results.filter((r) => !r.ok && r.reason === 'quota')).toHaveLength(47);
    expect(await quota.status(alice)).toMatchObject({ used: 3, remaining: 0, activeJobs: 3 });
  });

  it('GIVEN one unit of server budget left WHEN two members race for it THEN exactly one gets it', async () => {
    const quota = await openQuota({ budget: 3 });
    await quota.reserve({ guildId: 'g1', userId: 'carol' }, 'c1', 'veo3_fast');
    await quota.reserve({ guildId: 'g1', userId: 'carol' }, 'c2', 'veo3_fast');
    const [a, b] = await Promise.all([quota.reserve(alice, 'a1', 'veo3_fast'), quota.reserve(bob, 'b1', 'veo3_fast')]);
    expect([a?.ok, b?.ok].filter(Boolean)).toHaveLength(1);
    expect([a, b].find((r) => r && !r.ok)).toMatchObject({ reason: 'budget', retryAt: T0 + 25 * 3_600_000 });
  });

  it('GIVEN a reserved job WHEN refunded twice concurrently THEN it is refunded once', async () => {
    const quota = await openQuota();
    await quota.reserve(alice, 'j1', 'veo3_fast');
    const results = await Promise.all([quota.refund(alice, 'j1'), quota.refund(alice, 'j1')]);
    expect(results.sort()).toEqual([false, true]);
    expect(await quota.refund(alice, 'j1')).toBe(false);
    expect(await quota.status(alice)).toMatchObject({ used: 0, remaining: 3, activeJobs: 0 });
  });

  it('GIVEN a reservation WHEN a new store instance opens it (a restart) and refunds THEN the status is right', async () => {
    const before = await openQuota();
    await before.reserve(alice, 'j1', 'veo3_fast');
    await before.reserve(alice, 'j2', 'veo3_fast');
    const [first] = opened.splice(0);
    await first?.close();

    const after = await openQuota();
    expect(await after.status(alice)).toMatchObject({ used: 2, held: 2, activeJobs: 2 });
    expect(await after.refund(alice, 'j1')).toBe(true);
    expect(await after.status(alice)).toMatchObject({ used: 1, held: 1, remaining: 2, activeJobs: 1 });
    const reconciled = await after.reconcile(async () => 'delivered');
    expect(reconciled).toEqual({ refunded: 0, committed: 1, closed: 0 });
    expect(await after.status(alice)).toMatchObject({ used: 1, held: 0, activeJobs: 0 });
  });

  it('GIVEN more ledgers than one iterator page WHEN reconciled THEN every ledger is visited', async () => {
    const quota = await openQuota();
    for (let i = 0; i < 25; i++) await quota.reserve({ guildId: `g${i}`, userId: 'u' }, `j${i}`, 'veo3_fast');
    expect(await quota.reconcile(async () => 'missing')).toEqual({ refunded: 25, committed: 0, closed: 0 });
  });

  it('GIVEN ledgers of several servers and DMs WHEN one shard reconciles THEN it settles only the ones it owns', async () => {
    const quota = await openQuota();
    await quota.reserve({ guildId: 'g1', userId: 'u' }, 'mine', 'veo3_fast');
    await quota.reserve({ guildId: 'g2', userId: 'u' }, 'theirs', 'veo3_fast');
    await quota.reserve({ guildId: null, userId: 'u' }, 'dm', 'veo3_fast');
    const owns = (guildId: string | null) => guildId === 'g1';
    expect(await quota.reconcile(async () => 'missing', owns)).toEqual({ refunded: 1, committed: 0, closed: 0 });
    expect(await quota.status({ guildId: 'g2', userId: 'u' })).toMatchObject({ held: 1 });
    expect(await quota.status({ guildId: null, userId: 'u' })).toMatchObject({ held: 1 });
  });
});

describe('the quota namespace on Redis', () => {
  it('GIVEN two namespaces with their own adapters WHEN one is iterated THEN it sees only its own keys', async () => {
    const backend = durableBackends.find((b) => b.name === 'Redis')!;
    const location = await backend.fresh();
    const stores = openStores(location);
    try {
      await stores.ready;
      await stores.quota.set('usage:g1:a', { resetAt: 0, entries: [] });
      await stores.jobs.set('usage:g9:z', 'not a ledger');
      const keys: string[] = [];
      for await (const [key] of stores.quota.iterator!(stores.quota.namespace)) keys.push(String(key));
      expect(keys).toEqual(['usage:g1:a']);
    } finally {
      await stores.close();
      await backend.remove(location);
    }
  });
});
