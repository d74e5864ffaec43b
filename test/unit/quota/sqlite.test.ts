import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KeyvSqlite } from '@keyv/sqlite';
import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  QuotaService,
  type GuildQuotaSettings,
  type QuotaDefaults,
  type QuotaScope,
} from '../../../src/services/quota.js';

const T0 = Date.UTC(2025, 0, 1);
const defaults: QuotaDefaults = {
  limit: 3,
  windowHours: 24,
  costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 },
  maxActiveJobs: 50,
};
const alice: QuotaScope = { guildId: 'g1', userId: 'alice' };
const bob: QuotaScope = { guildId: 'g1', userId: 'bob' };

describe('QuotaService on a real SQLite file', () => {
  let dir: string;
  let file: string;
  let adapters: KeyvSqlite[];
  const clock = { now: () => T0 };

  function openQuota(settings: GuildQuotaSettings = {}): QuotaService {
    const adapter = new KeyvSqlite(`sqlite://${file}`);
    adapters.push(adapter);
    // throwOnErrors: a failed read must not look like an empty ledger.
    const store = new Keyv({ store: adapter, namespace: 'quota', throwOnErrors: true });
    return new QuotaService({ store, clock, defaults, settings: async () => settings });
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'veo-quota-'));
    file = path.join(dir, 'quota.sqlite');
    adapters = [];
  });

  afterEach(async () => {
    // A second disconnect of the same adapter rejects (SQLITE_MISUSE), so each is closed exactly once.
    await Promise.all(adapters.splice(0).map((a) => a.disconnect()));
    await rm(dir, { recursive: true, force: true });
  });

  it('GIVEN an allowance of 3 WHEN 50 reservations race for one member THEN exactly 3 are granted', async () => {
    const quota = openQuota();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => quota.reserve(alice, `job${i}`, 'veo3_fast')),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(results.filter((r) => !r.ok && r.reason === 'quota')).toHaveLength(47);
    expect(await quota.status(alice)).toMatchObject({ used: 3, remaining: 0, activeJobs: 3 });
  });

  it('GIVEN one unit of server budget left WHEN two members race for it THEN exactly one gets it', async () => {
    const quota = openQuota({ budget: 3 });
    await quota.reserve({ guildId: 'g1', userId: 'carol' }, 'c1', 'veo3_fast');
    await quota.reserve({ guildId: 'g1', userId: 'carol' }, 'c2', 'veo3_fast');
    const [a, b] = await Promise.all([quota.reserve(alice, 'a1', 'veo3_fast'), quota.reserve(bob, 'b1', 'veo3_fast')]);
    expect([a?.ok, b?.ok].filter(Boolean)).toHaveLength(1);
    expect([a, b].find((r) => r && !r.ok)).toMatchObject({ reason: 'budget', retryAt: T0 + 24 * 3_600_000 });
  });

  it('GIVEN a reserved job WHEN refunded twice concurrently THEN it is refunded once', async () => {
    const quota = openQuota();
    await quota.reserve(alice, 'j1', 'veo3_fast');
    const results = await Promise.all([quota.refund(alice, 'j1'), quota.refund(alice, 'j1')]);
    expect(results.sort()).toEqual([false, true]);
    expect(await quota.refund(alice, 'j1')).toBe(false);
    expect(await quota.status(alice)).toMatchObject({ used: 0, remaining: 3, activeJobs: 0 });
  });

  it('GIVEN a reservation WHEN a new store instance opens the file (a restart) and refunds THEN the status is right', async () => {
    const before = openQuota();
    await before.reserve(alice, 'j1', 'veo3_fast');
    await before.reserve(alice, 'j2', 'veo3_fast');
    const [first] = adapters.splice(0);
    await first?.disconnect();

    const after = openQuota();
    expect(await after.status(alice)).toMatchObject({ used: 2, held: 2, activeJobs: 2 });
    expect(await after.refund(alice, 'j1')).toBe(true);
    expect(await after.status(alice)).toMatchObject({ used: 1, held: 1, remaining: 2, activeJobs: 1 });
    const reconciled = await after.reconcile(async () => 'delivered');
    expect(reconciled).toEqual({ refunded: 0, committed: 1, closed: 0 });
    expect(await after.status(alice)).toMatchObject({ used: 1, held: 0, activeJobs: 0 });
  });

  it('GIVEN more ledgers than one iterator page WHEN reconciled THEN every ledger is visited', async () => {
    const quota = openQuota();
    for (let i = 0; i < 25; i++) await quota.reserve({ guildId: `g${i}`, userId: 'u' }, `j${i}`, 'veo3_fast');
    expect(await quota.reconcile(async () => 'missing')).toEqual({ refunded: 25, committed: 0, closed: 0 });
  });
});
