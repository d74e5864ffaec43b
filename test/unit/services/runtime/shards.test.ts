import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, secretsOf, type StoreLocation } from '../../../../src/config.js';
import { systemClock } from '../../../../src/lib/clock.js';
import { silentLogger } from '../../../../src/logger.js';
import { LAYOUT_KEY, LayoutMismatchError } from '../../../../src/services/jobs/layout.js';
import { JobStore } from '../../../../src/services/jobs/store.js';
import {
  recommendedShardCount,
  reshard,
  ReshardRefusedError,
  settleShardLayout,
  ShardLeases,
  ShardPlan,
} from '../../../../src/services/runtime/shards.js';
import { openStores, type Stores } from '../../../../src/services/runtime/store.js';
import { makeJob } from '../../../helpers/jobs.js';
import { durableBackends } from '../../../helpers/stores.js';

const minimal = {
  DISCORD_TOKEN: 'discord-token-value',
  DISCORD_APPLICATION_ID: '123456789012345678',
  KIE_API_KEY: 'kie-key-value',
};
const REDIS = 'redis://127.0.0.1:6379';

function problemKeys(env: Record<string, string>): { key: string; problem: string }[] {
  try {
    loadConfig({ ...minimal, ...env }, '/srv/bot');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('SHARD_COUNT and SHARD_IDS', () => {
  it('GIVEN nothing about shards THEN the count is auto and this process runs all of them', () => {
    expect(loadConfig(minimal, '/srv/bot')).toMatchObject({ shardCount: 'auto', shardIds: 'all' });
  });

  it('GIVEN a range on Redis THEN the process runs those shards; naming every shard is the same as all', () => {
    expect(loadConfig({ ...minimal, SHARD_COUNT: '100', SHARD_IDS: '25-49', STORE_URL: REDIS }).shardIds).toHaveLength(
      25,
    );
    expect(loadConfig({ ...minimal, SHARD_COUNT: '4', SHARD_IDS: '0,3', STORE_URL: REDIS }).shardIds).toEqual([0, 3]);
    expect(loadConfig({ ...minimal, SHARD_COUNT: '4', SHARD_IDS: '0-3' }).shardIds).toBe('all');
  });

  it('GIVEN part of the shards on SQLite THEN start is refused, naming SHARD_IDS and STORE_URL', () => {
    const [problem, ...more] = problemKeys({ SHARD_COUNT: '4', SHARD_IDS: '0-1' });
    expect(more).toEqual([]);
    expect(problem?.key).toBe('SHARD_IDS');
    expect(problem?.problem).toMatch(/2 of 4 shards.*STORE_URL=redis/);
  });

  it('GIVEN SHARD_IDS with SHARD_COUNT=auto, past the count, or not ids THEN start is refused with the key', () => {
    expect(problemKeys({ SHARD_IDS: '0-1', STORE_URL: REDIS })[0]?.problem).toMatch(/fixed SHARD_COUNT/);
    expect(problemKeys({ SHARD_COUNT: '4', SHARD_IDS: '2-4', STORE_URL: REDIS })[0]?.problem).toMatch(/shard 4/);
    expect(problemKeys({ SHARD_COUNT: '4', SHARD_IDS: 'two', STORE_URL: REDIS })[0]?.key).toBe('SHARD_IDS');
    expect(problemKeys({ SHARD_COUNT: 'lots' })[0]?.key).toBe('SHARD_COUNT');
  });

  it('GIVEN a redis STORE_URL with a key prefix and a password THEN the location carries the prefix and the logger scrubs the password', () => {
    const config = loadConfig(
      { ...minimal, STORE_URL: 'redis://:s3cret-pass%21@redis.internal:6379/2', STORE_KEY_PREFIX: 'staging' },
      '/srv/bot',
    );
    expect(config.store).toMatchObject({ kind: 'redis', prefix: 'staging' });
    expect(secretsOf(config)).toEqual(expect.arrayContaining(['s3cret-pass%21', 's3cret-pass!']));
  });
});

describe('ShardPlan', () => {
  it('GIVEN SHARD_COUNT=auto THEN the set is unknown until start asks GET /gateway/bot, then every recommended shard', async () => {
    const asked: string[] = [];
    const rest = {
      get: async (route: string) => {
        asked.push(route);
        return { url: 'wss://gateway', shards: 4, session_start_limit: { max_concurrency: 1 } };
      },
    };
    const plan = new ShardPlan({ count: 'auto', ids: 'all' });
    expect(() => plan.set).toThrow(/resolved when the bot starts/);
    await plan.resolve(() => recommendedShardCount(rest));
    expect(asked).toEqual(['/gateway/bot']);
    expect(plan.set).toEqual({ ids: [0, 1, 2, 3], count: 4 });
    expect(plan.describe()).toBe('0-3 of 4');
    await expect(recommendedShardCount({ get: async () => ({ shards: 0 }) })).rejects.toThrow(/no usable shard count/);
  });

  it('GIVEN a fixed count THEN the set is known at once and never asks Discord', async () => {
    const plan = new ShardPlan({ count: 8, ids: [4, 5, 6, 7] });
    expect(plan.describe()).toBe('4-7 of 8');
    await plan.resolve(() => Promise.reject(new Error('not asked')));
    expect(plan.owns(null)).toBe(false);
  });
});

describe.each(durableBackends)('shard leases and layouts on $name', (backend) => {
  let location: StoreLocation;
  let opened: Stores[];
  let held: ShardLeases[];

  beforeEach(async () => {
    location = await backend.fresh();
    opened = [];
    held = [];
  });

  afterEach(async () => {
    for (const leases of held) await leases.release().catch(() => undefined);
    await Promise.all(opened.map((s) => s.close()));
    await backend.remove(location);
  });

  /** One "process" with a pid of its own on this host, its holders never dead. */
  async function processOf(pid: number): Promise<{ stores: Stores; leases: ShardLeases }> {
    const stores = openStores(location);
    opened.push(stores);
    await stores.ready;
    const leases = new ShardLeases({
      store: stores.leases,
      atomic: stores.atomicLeases,
      clock: systemClock,
      logger: silentLogger,
      ttlMs: 3_000,
      retryMs: 20,
      settleMs: 20,
      pid,
      isProcessAlive: () => true,
    });
    held.push(leases);
    return { stores, leases };
  }

  it('GIVEN a process holding shards 0-1 WHEN another wants 1-2 THEN it waits on 1 holding nothing after it, and takes both once released', async () => {
    const a = await processOf(101);
    const b = await processOf(102);
    await a.leases.acquire([0, 1]);
    expect(a.leases.held).toBe(true);
    const taking = b.leases.acquire([2, 1]);
    await new Promise((r) => setTimeout(r, 150));
    expect(b.leases.held).toBe(false);
    expect(await b.stores.leases.get('2')).toBeUndefined();
    await a.leases.release();
    await taking;
    expect(b.leases.held).toBe(true);
    expect(await b.stores.leases.get<{ pid: number }>('1')).toMatchObject({ pid: 102 });
  });

  it('GIVEN jobs in flight filed for 4 shards WHEN a process of 8 starts THEN a part refuses, a process of every shard re-files them; npm run reshard refuses while a process runs', async () => {
    const a = await processOf(201);
    const guildOf = (shard8: number) => ((BigInt(8 * 1000 + shard8) << 22n) | 3n).toString();
    const jobs = [1, 5, 6].map((shard8) => makeJob({ guildId: guildOf(shard8) }));
    const old = new JobStore(a.stores.jobs, systemClock, undefined, () => ({ ids: [0, 1, 2, 3], count: 4 }));
    await a.stores.jobs.set(LAYOUT_KEY, { shards: 4 });
    for (const job of jobs) await old.create(job);
    const deps = { store: a.stores.jobs, clock: systemClock, logger: silentLogger, leases: a.leases };

    await expect(settleShardLayout({ ids: [4, 5, 6, 7], count: 8 }, deps)).rejects.toBeInstanceOf(LayoutMismatchError);
    const runner = await processOf(202);
    await runner.leases.acquire([2]);
    await expect(reshard(8, deps)).rejects.toBeInstanceOf(ReshardRefusedError);
    await runner.leases.release();
    expect(await a.stores.jobs.get(LAYOUT_KEY)).toEqual({ shards: 4 });

    expect(await reshard(8, deps)).toMatchObject({ from: 4, to: 8, active: 3 });
    const listed = async (ids: number[]) =>
      (await new JobStore(a.stores.jobs, systemClock, undefined, () => ({ ids, count: 8 })).active()).map((j) => j.id);
    expect(await listed([0, 1, 2, 3])).toEqual([jobs[0]!.id]);
    expect((await listed([4, 5, 6, 7])).sort()).toEqual([jobs[1]!.id, jobs[2]!.id].sort());
    // The leases reshard took are given back.
    expect(await a.stores.leases.get('7')).toBeUndefined();

    // Back to 2 in one process of every shard: it takes the old count's extra leases itself.
    expect(await settleShardLayout({ ids: [0, 1], count: 2 }, deps)).toMatchObject({ from: 8, to: 2, active: 3 });
    expect(await a.stores.leases.get('5')).toBeUndefined();
  });
});
