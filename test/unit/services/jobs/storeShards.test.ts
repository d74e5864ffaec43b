import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreLocation } from '../../../../src/config.js';
import { silentLogger } from '../../../../src/logger.js';
import { shardOfGuild, type ShardPlace } from '../../../../src/lib/shard.js';
import { adoptShardLayout, LAYOUT_KEY } from '../../../../src/services/jobs/layout.js';
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

  async function open(place?: ShardPlace): Promise<{ stores: Stores; jobs: JobStore }> {
    const stores = openStores(location);
    opened.push(stores);
    await stores.ready;
    return { stores, jobs: new JobStore(stores.jobs, clock, undefined, place) };
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
    const zero = await open({ id: 0, count: 2 });
    const one = await open({ id: 1, count: 2 });
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
        const { jobs } = await open({ id, count });
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
    const { stores, jobs } = await open({ id: 0, count: 2 });
    const a = makeJob({ guildId: guildOn(0, 2) });
    const b = makeJob({ guildId: guildOn(1, 2) });
    await jobs.create(a);
    await new JobStore(stores.jobs, clock, undefined, { id: 1, count: 2 }).create(b);
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
      all.push(...(await new JobStore(stores.jobs, clock, undefined, { id, count: 3 }).active()).map((j) => j.id));
    expect(all.sort()).toEqual([a.id, b.id].sort());
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
