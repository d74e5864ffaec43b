import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreLocation } from '../../../../src/config.js';
import { silentLogger } from '../../../../src/logger.js';
import { shardOfGuild, type ShardSet } from '../../../../src/lib/shard.js';
import { adoptShardLayout, LAYOUT_KEY, LayoutMismatchError } from '../../../../src/services/jobs/layout.js';
import type { JobRecord } from '../../../../src/services/jobs/record.js';
import { JobStore } from '../../../../src/services/jobs/store.js';
import { openStores, type Stores } from '../../../../src/services/runtime/store.js';
import { makeJob } from '../../../helpers/jobs.js';
import { durableBackends } from '../../../helpers/stores.js';

/** Guild ids whose shard of `count` is `shard`: (id >> 22) % count. */
function guildOn(shard: number, count: number, n = 0): string {
  const id = ((BigInt(count) * (1_000n + BigInt(n)) + BigInt(shard)) << 22n) | 12_345n;
  expect(shardOfGuild(id.toString(), count)).toBe(shard);
  return id.toString();
}

const clock = { now: () => 1_700_000_000_000 };

/**
 * Keyv cannot update a value atomically, so two shard processes writing one shared active index would
 * lose each other's ids. Each shard has its own index (its guilds' jobs; DMs on shard 0), and a change of
 * shard count re-files them. Each store instance here stands for one process.
 */
describe.each(durableBackends)('JobStore indexes per shard on $name', (backend) => {
  let location: StoreLocation;
  let opened: Stores[];

  /** One process running `ids` of `count` (default: the single shard). */
  async function open(ids?: number[], count = 1): Promise<{ stores: Stores; jobs: JobStore }> {
    const stores = openStores(location);
    opened.push(stores);
    await stores.ready;
    const set: ShardSet | undefined = ids && { ids, count };
    return { stores, jobs: new JobStore(stores.jobs, clock, undefined, set && (() => set)) };
  }

  beforeEach(async () => {
    opened = [];
    location = await backend.fresh();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    if (location) await backend.remove(location);
  });

  it('GIVEN two shard processes WHEN each creates 20 jobs at once THEN each lists exactly its own, none lost', async () => {
    const zero = await open([0], 2);
    const one = await open([1], 2);
    const mine = (shard: number) =>
      Array.from({ length: 20 }, (_, i) => makeJob({ guildId: guildOn(shard, 2, i % 3) }));
    const jobs0 = [...mine(0), makeJob({ guildId: null })];
    const jobs1 = mine(1);
    await Promise.all([...jobs0.map((j) => zero.jobs.create(j)), ...jobs1.map((j) => one.jobs.create(j))]);
    expect((await zero.jobs.active()).map((j) => j.id).sort()).toEqual(jobs0.map((j) => j.id).sort());
    expect((await one.jobs.active()).map((j) => j.id).sort()).toEqual(jobs1.map((j) => j.id).sort());

    await Promise.all([
      ...jobs0.slice(0, 10).map((j) => zero.jobs.update(j.id, (r) => ({ ...r, state: 'delivered' }))),
      ...jobs1.slice(0, 10).map((j) => one.jobs.update(j.id, (r) => ({ ...r, state: 'delivered' }))),
    ]);
    expect(await zero.jobs.active()).toHaveLength(11);
    expect(await one.jobs.active()).toHaveLength(10);
  });

  it('GIVEN one process (one shard) THEN the index keeps its single-process name', async () => {
    const { stores, jobs } = await open();
    const job = makeJob({ guildId: guildOn(1, 2) });
    await jobs.create(job);
    expect(await stores.jobs.get('index:active')).toEqual([job.id]);
    expect((await jobs.active()).map((j) => j.id)).toEqual([job.id]);
  });

  it('GIVEN active jobs of one process WHEN it becomes two shards, then three, then one again THEN every active job is listed by its owner once', async () => {
    const single = await open();
    const guilds = Array.from({ length: 6 }, (_, i) => guildOn(i % 3, 3, i));
    const active = guilds.map((guildId, i) => makeJob({ guildId, createdAt: 1_000 + i }));
    const dm = makeJob({ guildId: null, createdAt: 2_000 });
    const done = makeJob({ guildId: guilds[0]! });
    for (const job of [...active, dm, done]) await single.jobs.create(job);
    await single.jobs.update(done.id, (j) => ({ ...j, state: 'delivered' }));
    const hd = active[4]!;
    await single.jobs.update(hd.id, (j) => ({ ...j, state: 'delivered', hd: preparing() }));
    const stillActive = [...active.filter((j) => j.id !== hd.id), dm];

    for (const count of [2, 3, 1]) {
      const change = await adoptShardLayout(single.stores.jobs, count, clock, silentLogger);
      expect(change).toMatchObject({ to: count, active: stillActive.length, hd: 1 });
      expect(await adoptShardLayout(single.stores.jobs, count, clock, silentLogger)).toBeNull();
      const seen: string[] = [];
      for (let id = 0; id < count; id++) {
        const { jobs } = await open([id], count);
        const listed = await jobs.active();
        for (const job of listed) expect(shardOfGuild(job.guildId, count)).toBe(id);
        seen.push(...listed.map((j) => j.id));
        const hdListed = await jobs.upgradesPreparing('1080p');
        expect(hdListed.map((j) => j.id)).toEqual(shardOfGuild(hd.guildId, count) === id ? [hd.id] : []);
      }
      expect(seen.sort()).toEqual(stillActive.map((j) => j.id).sort());
    }
    expect(await single.stores.jobs.get(LAYOUT_KEY)).toEqual({ shards: 1 });
    expect(await single.stores.jobs.get('index:active:0')).toBeUndefined();
  });

  it('GIVEN a re-filing that stopped half way (new indexes written, layout not) WHEN run again THEN nothing is lost', async () => {
    const { stores, jobs } = await open([0], 2);
    const a = makeJob({ guildId: guildOn(0, 2) });
    const b = makeJob({ guildId: guildOn(1, 2) });
    await jobs.create(a);
    await new JobStore(stores.jobs, clock, undefined, () => ({ ids: [1], count: 2 })).create(b);
    await stores.jobs.set(LAYOUT_KEY, { shards: 2 });
    // A crash after the 3-shard indexes overwrote :0 and :1, before the layout said 3.
    const target = (job: JobRecord) => `index:active:${String(shardOfGuild(job.guildId, 3))}`;
    await stores.jobs.set('index:active:0', []);
    await stores.jobs.set('index:active:1', []);
    await stores.jobs.set('index:active:2', []);
    await stores.jobs.set(target(a), [a.id]);
    await stores.jobs.set(target(b), [...((await stores.jobs.get<string[]>(target(b))) ?? []), b.id]);
    await adoptShardLayout(stores.jobs, 3, clock, silentLogger);
    const all: string[] = [];
    for (let id = 0; id < 3; id++)
      all.push(
        ...(await new JobStore(stores.jobs, clock, undefined, () => ({ ids: [id], count: 3 })).active()).map(
          (j) => j.id,
        ),
      );
    expect(all.sort()).toEqual([a.id, b.id].sort());
  });
});

describe.each(durableBackends)('shard sets and layouts on $name', (backend) => {
  let location: StoreLocation;
  let stores: Stores;

  beforeEach(async () => {
    location = await backend.fresh();
    stores = openStores(location);
    await stores.ready;
  });

  afterEach(async () => {
    await stores.close();
    await backend.remove(location);
  });

  it('GIVEN two processes running shards 0-1 and 2-3 of 4 THEN each lists the jobs of both its shards, oldest first, and only those', async () => {
    const low = new JobStore(stores.jobs, clock, undefined, () => ({ ids: [0, 1], count: 4 }));
    const high = new JobStore(stores.jobs, clock, undefined, () => ({ ids: [2, 3], count: 4 }));
    const jobs = [0, 1, 2, 3, 1, 0].map((shard, i) => makeJob({ guildId: guildOn(shard, 4, i), createdAt: 100 - i }));
    const dm = makeJob({ guildId: null, createdAt: 50 });
    await Promise.all([...jobs.slice(0, 2), jobs[4]!, jobs[5]!, dm].map((j) => low.create(j)));
    await Promise.all([jobs[2]!, jobs[3]!].map((j) => high.create(j)));
    expect((await low.active()).map((j) => j.id)).toEqual(
      [dm, jobs[5]!, jobs[4]!, jobs[1]!, jobs[0]!].map((j) => j.id),
    );
    expect((await high.active()).map((j) => j.id)).toEqual([jobs[3]!, jobs[2]!].map((j) => j.id));
    expect(await stores.jobs.get('index:active:1')).toEqual(expect.arrayContaining([jobs[1]!.id, jobs[4]!.id]));
  });

  it('GIVEN a fresh store WHEN a process of 4 shards starts without the right to move THEN it records the count; with jobs filed under another count it refuses and moves nothing', async () => {
    expect(await adoptShardLayout(stores.jobs, 4, clock, silentLogger, false)).toMatchObject({ from: 1, to: 4 });
    expect(await stores.jobs.get(LAYOUT_KEY)).toEqual({ shards: 4 });
    const job = makeJob({ guildId: guildOn(1, 4) });
    await new JobStore(stores.jobs, clock, undefined, () => ({ ids: [1], count: 4 })).create(job);
    await expect(adoptShardLayout(stores.jobs, 8, clock, silentLogger, false)).rejects.toThrow(LayoutMismatchError);
    await expect(adoptShardLayout(stores.jobs, 8, clock, silentLogger, false)).rejects.toThrow(/npm run reshard/);
    expect(await stores.jobs.get(LAYOUT_KEY)).toEqual({ shards: 4 });
    expect(await stores.jobs.get('index:active:1')).toEqual([job.id]);
  });
});

function preparing(): NonNullable<JobRecord['hd']> {
  return {
    state: 'preparing',
    interactionId: 'i',
    token: 't',
    at: 0,
    replyMessageId: null,
    channelId: 'c',
    requesterId: 'x',
    attachmentSizeLimit: null,
    ephemeral: false,
    url: null,
  };
}
