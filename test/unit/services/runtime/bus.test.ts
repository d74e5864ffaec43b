import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreLocation } from '../../../../src/config.js';
import type { CallbackHint } from '../../../../src/services/runtime/http.js';
import { RedisBus } from '../../../../src/services/runtime/bus.js';
import { RedisIdentifyThrottler } from '../../../../src/services/runtime/busIdentify.js';
import { openStores, type Stores } from '../../../../src/services/runtime/store.js';
import { recordingLogger, type LogLine } from '../../../helpers/logger.js';
import { redisBackend } from '../../../helpers/stores.js';

/** The Redis bus between the bot's processes (DESIGN §8), each "process" with connections of its own. */
describe('RedisBus (real redis-server)', () => {
  let location: Extract<StoreLocation, { kind: 'redis' }>;
  let opened: { stores: Stores; bus: RedisBus }[];
  let logs: LogLine[];

  beforeEach(async () => {
    const fresh = await redisBackend.fresh();
    if (fresh.kind !== 'redis') throw new Error('expected a Redis location');
    location = fresh;
    opened = [];
    logs = [];
  });

  afterEach(async () => {
    for (const { stores, bus } of opened) {
      await bus.close();
      await stores.close();
    }
    await redisBackend.remove(location);
  });

  async function busOf(): Promise<RedisBus> {
    const stores = openStores(location);
    await stores.ready;
    if (!stores.connectBus) throw new Error('a Redis store opens bus connections');
    const bus = new RedisBus({
      connect: stores.connectBus,
      prefix: location.prefix,
      timeoutMs: 2_000,
      logger: recordingLogger(logs),
    });
    await bus.open();
    opened.push({ stores, bus });
    return bus;
  }

  it('GIVEN a process listening for shards 2 and 3 THEN a callback handed on for shard 3 reaches it, one for shard 1 reaches nobody, and a malformed message is dropped', async () => {
    const [a, b] = [await busOf(), await busOf()];
    const heard: CallbackHint[] = [];
    await b.onCallbacks([2, 3], (hint) => heard.push(hint));
    expect(await a.forwardCallback(3, { taskId: 'task-3', jobId: null })).toBe(true);
    expect(await a.forwardCallback(1, { taskId: 'task-1', jobId: null })).toBe(false);
    await a.redis.publish(`${a.base}callbacks:2`, JSON.stringify({ taskId: '../../etc', jobId: null }));
    for (let i = 0; i < 100 && logs.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(heard).toEqual([{ taskId: 'task-3', jobId: null }]);
    expect(logs.map((l) => l.message)).toEqual(['ignored a malformed callback message on the Redis bus']);
  });

  it('GIVEN two processes with shards of one IDENTIFY bucket THEN each IDENTIFY waits for the lock, across processes; another bucket goes at once', async () => {
    const [a, b] = [await busOf(), await busOf()];
    const lockMs = 300;
    const throttle = (bus: RedisBus) =>
      new RedisIdentifyThrottler({
        redis: bus.redis,
        base: `${bus.base}identify:`,
        maxConcurrency: 2,
        logger: recordingLogger(logs),
        lockMs,
      });
    const [ta, tb] = [throttle(a), throttle(b)];
    const signal = new AbortController().signal;
    const times: { shard: number; at: number }[] = [];
    const identify = (t: RedisIdentifyThrottler, shard: number) =>
      t.waitForIdentify(shard, signal).then(() => times.push({ shard, at: performance.now() }));
    // Shards 0, 2 and 4 share bucket 0 (shard % 2); shard 1 is bucket 1.
    await Promise.all([identify(ta, 0), identify(tb, 2), identify(ta, 4), identify(tb, 1)]);
    const bucket0 = times.filter((t) => t.shard % 2 === 0).map((t) => t.at);
    expect(bucket0).toHaveLength(3);
    for (let i = 1; i < bucket0.length; i++) expect(bucket0[i]! - bucket0[i - 1]!).toBeGreaterThanOrEqual(lockMs - 5);
    // Bucket 1 waited for nobody: it went before bucket 0's second turn.
    expect(times.findIndex((t) => t.shard === 1)).toBeLessThan(2);
    const aborted = new AbortController();
    const waiting = ta.waitForIdentify(6, aborted.signal);
    aborted.abort(new Error('shard closed'));
    await expect(waiting).rejects.toThrow('shard closed');
  });
});
