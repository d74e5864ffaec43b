import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreLocation } from '../../../../src/config.js';
import { CreditBudget } from '../../../../src/services/quota/credits.js';
import { reconcileSpends, type SharedLedger } from '../../../../src/services/quota/shared.js';
import { sharedLedgerOn } from '../../../../src/services/quota/sharedRedis.js';
import { openStores, type Stores } from '../../../../src/services/runtime/store.js';
import { silentLogger } from '../../../../src/logger.js';
import { durableBackends } from '../../../helpers/stores.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 1, 10, 30);
/** The end of T0's hour: a spend of T0 counts until this plus 24 h. */
const T0_HOUR_END = Date.UTC(2025, 0, 1, 11);
const prices = { models: { veo3: 250, veo3_fast: 60, veo3_lite: 30 }, hd1080p: 5, uhd4k: 120 };

/**
 * The shared ledgers (credit budget, a user's day across servers) on each store production runs on. On
 * Redis each "process" is an instance of its own, with its own connection; on SQLite one process owns the
 * store, so one instance stands for it.
 */
describe.each(durableBackends)('shared ledger on $name', (backend) => {
  let location: StoreLocation;
  let opened: Stores[];
  let clock: { t: number; now: () => number };

  async function open(family = 'credits'): Promise<SharedLedger> {
    const stores = openStores(location);
    opened.push(stores);
    await stores.ready;
    return sharedLedgerOn(stores, family, silentLogger);
  }

  /** Two processes on Redis (two instances, two connections); the one process of a SQLite store. */
  async function processes(): Promise<[SharedLedger, SharedLedger]> {
    const first = await open();
    return [first, backend.name === 'Redis' ? await open() : first];
  }

  beforeEach(async () => {
    opened = [];
    clock = { t: T0, now: () => clock.t };
    location = await backend.fresh();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await backend.remove(location);
  });

  it('GIVEN a budget of 5 Fast jobs WHEN 50 reservations race from two processes THEN exactly 5 are granted', async () => {
    const [one, two] = await processes();
    const budgets = [one, two].map(
      (ledger) => new CreditBudget({ ledger, budget: 300, prices, clock, logger: silentLogger }),
    );
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        budgets[i % 2]!.reserve(`job${i}`, { kind: 'video', model: 'veo3_fast' }, 'g1'),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(5);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.retryAt === T0_HOUR_END + 24 * HOUR)).toBe(true);
    expect(await budgets[0]!.usage()).toEqual({
      used: 300,
      held: 300,
      budget: 300,
      nextFreeAt: T0_HOUR_END + 24 * HOUR,
    });
  });

  it('GIVEN a reservation WHEN reserved again, committed, refunded twice THEN it counts once and comes back once', async () => {
    const [one, two] = await processes();
    expect(await one.reserve('', { id: 'j1', amount: 60, owner: 'g1' }, 100, T0)).toEqual({ ok: true, used: 60 });
    expect(await two.reserve('', { id: 'j1', amount: 60, owner: 'g1' }, 100, T0)).toEqual({ ok: true, used: 60 });
    expect(await one.commit('', 'j1', T0)).toBe(true);
    expect(await two.commit('', 'j1', T0)).toBe(false);
    expect(await one.usage('', T0)).toEqual({ used: 60, held: 0, nextFreeAt: T0_HOUR_END + 24 * HOUR });
    const refunds = await Promise.all([one.refund('', 'j1', T0), two.refund('', 'j1', T0)]);
    expect(refunds.filter(Boolean)).toHaveLength(1);
    expect(await two.usage('', T0)).toEqual({ used: 0, held: 0, nextFreeAt: null });
    expect(await one.open()).toEqual([]);
  });

  it('GIVEN spends through the day WHEN the window slides THEN each hour leaves 24 h after it ends, and a closed spend still counts', async () => {
    const ledger = await open();
    await ledger.reserve('', { id: 'a', amount: 60, owner: null }, 150, T0);
    await ledger.close('', 'a', T0);
    await ledger.reserve('', { id: 'b', amount: 60, owner: null }, 150, T0 + 2 * HOUR);
    const refused = await ledger.reserve('', { id: 'c', amount: 60, owner: null }, 150, T0 + 3 * HOUR);
    expect(refused).toEqual({ ok: false, used: 120, retryAt: T0_HOUR_END + 24 * HOUR });
    expect(
      await ledger.reserve('', { id: 'c', amount: 60, owner: null }, 150, T0_HOUR_END + 24 * HOUR - 1),
    ).toMatchObject({ ok: false });
    expect(await ledger.reserve('', { id: 'c', amount: 60, owner: null }, 150, T0_HOUR_END + 24 * HOUR)).toEqual({
      ok: true,
      used: 120,
    });
    // b's hour has left by T0 + 30 h, c's has not; a spend dearer than the whole budget never fits.
    expect(await ledger.reserve('', { id: 'd', amount: 200, owner: null }, 150, T0 + 30 * HOUR)).toEqual({
      ok: false,
      used: 60,
      retryAt: null,
    });
  });

  it('GIVEN two users WHEN each spends THEN their days are apart, and the family lists every open spend', async () => {
    const ledger = await open('daily');
    await ledger.reserve('alice', { id: 'a1', amount: 2, owner: 'g1' }, 2, T0);
    expect(await ledger.reserve('alice', { id: 'a2', amount: 1, owner: 'g2' }, 2, T0)).toMatchObject({ ok: false });
    expect(await ledger.reserve('bob', { id: 'b1', amount: 2, owner: null }, 2, T0)).toEqual({ ok: true, used: 2 });
    await ledger.commit('bob', 'b1', T0);
    const listed = (await ledger.open()).sort((x, y) => x.id.localeCompare(y.id));
    expect(listed).toEqual([
      { sub: 'alice', id: 'a1', amount: 2, at: T0, state: 'held', owner: 'g1' },
      { sub: 'bob', id: 'b1', amount: 2, at: T0, state: 'spent', owner: null },
    ]);
  });

  it('GIVEN spends a crashed process left open WHEN reconciled THEN each is settled by its job’s fate, only for the guilds owned', async () => {
    const ledger = await open();
    const spend = (id: string, owner: string | null) => ledger.reserve('', { id, amount: 10, owner }, null, T0);
    for (const id of ['failed', 'missing', 'delivered', 'active']) await spend(id, 'g1');
    await spend('spent-missing', 'g1');
    await ledger.commit('', 'spent-missing', T0);
    await spend('other-shard', 'g2');
    const fates = { failed: 'failed', missing: 'missing', delivered: 'delivered', active: 'active' } as const;
    const result = await reconcileSpends(
      ledger,
      async (id) => (id in fates ? fates[id as keyof typeof fates] : 'missing'),
      { owns: (g) => g === 'g1', reservedBefore: T0 + 1, now: () => T0 },
    );
    expect(result).toEqual({ refunded: 2, committed: 1, closed: 1 });
    expect((await ledger.open()).map((s) => s.id).sort()).toEqual(['active', 'other-shard']);
    // Refunded: failed, missing; standing: delivered, spent-missing; open: active, other-shard.
    expect(await ledger.usage('', T0)).toMatchObject({ used: 40 });
  });
});
