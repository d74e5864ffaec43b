import type Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreLocation } from '../../../../src/config.js';
import { JobStore } from '../../../../src/services/jobs/store.js';
import { openStores, type Stores } from '../../../../src/services/runtime/store.js';
import { makeJob } from '../../../helpers/jobs.js';
import { durableBackends } from '../../../helpers/stores.js';

describe.each(durableBackends)('JobStore per-member index (for /veo-admin forget) on $name', (backend) => {
  let location: StoreLocation;
  let stores: Stores;
  let store: Keyv;
  let jobs: JobStore;
  const clock = { now: () => 1_700_000_000_000 };

  beforeEach(async () => {
    location = await backend.fresh();
    stores = openStores(location);
    await stores.ready;
    store = stores.jobs;
    jobs = new JobStore(store, clock);
  });

  afterEach(async () => {
    await stores?.close();
    if (location) await backend.remove(location);
  });

  it('GIVEN jobs of several members and servers WHEN listed THEN each member sees only theirs, per server', async () => {
    const a1 = makeJob({ requesterId: 'alice', guildId: 'g1', createdAt: 1 });
    const a2 = makeJob({ requesterId: 'alice', guildId: 'g1', createdAt: 2 });
    const aOther = makeJob({ requesterId: 'alice', guildId: 'g2' });
    const aDm = makeJob({ requesterId: 'alice', guildId: null });
    const b1 = makeJob({ requesterId: 'bob', guildId: 'g1' });
    for (const job of [a2, a1, aOther, aDm, b1]) await jobs.create(job);
    expect((await jobs.ofMember('g1', 'alice')).map((j) => j.id)).toEqual([a1.id, a2.id]);
    expect((await jobs.ofMember(null, 'alice')).map((j) => j.id)).toEqual([aDm.id]);
  });

  it('GIVEN finished and running jobs WHEN forgotten THEN finished records go, running ones stay until they end', async () => {
    const done = makeJob({ requesterId: 'alice', guildId: 'g1' });
    const failed = makeJob({ requesterId: 'alice', guildId: 'g1' });
    const running = makeJob({ requesterId: 'alice', guildId: 'g1' });
    const hd = makeJob({ requesterId: 'alice', guildId: 'g1' });
    const bobs = makeJob({ requesterId: 'bob', guildId: 'g1' });
    for (const job of [done, failed, running, hd, bobs]) await jobs.create(job);
    await jobs.update(done.id, (j) => ({ ...j, state: 'delivered' }));
    await jobs.update(failed.id, (j) => ({ ...j, state: 'failed' }));
    await jobs.update(hd.id, (j) => ({
      ...j,
      state: 'delivered',
      hd: {
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
      },
    }));

    expect(await jobs.forgetMember('g1', 'alice')).toEqual({ deleted: 2, kept: 2 });
    expect(await jobs.get(done.id)).toBeUndefined();
    expect(await jobs.get(failed.id)).toBeUndefined();
    expect((await jobs.ofMember('g1', 'alice')).map((j) => j.id).sort()).toEqual([running.id, hd.id].sort());
    expect(await jobs.get(bobs.id)).toBeDefined();

    await jobs.update(running.id, (j) => ({ ...j, state: 'delivered' }));
    await jobs.update(hd.id, (j) => ({ ...j, hd: j.hd && { ...j.hd, state: 'ready' } }));
    expect(await jobs.forgetMember('g1', 'alice')).toEqual({ deleted: 2, kept: 0 });
    expect(await store.get('index:member:g1:alice')).toBeUndefined();
  });

  it('GIVEN a long index WHEN another job is created THEN ids of expired records are dropped', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `gone${i}`);
    await store.set('index:member:g1:alice', ids);
    const job = makeJob({ requesterId: 'alice', guildId: 'g1' });
    await jobs.create(job);
    expect(await store.get('index:member:g1:alice')).toEqual([job.id]);
  });
});
