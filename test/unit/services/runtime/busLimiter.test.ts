import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreLocation } from '../../../../src/config.js';
import { silentLogger } from '../../../../src/logger.js';
import { LimiterCancelledError } from '../../../../src/services/jobs/limiter.js';
import { keyName, RedisBus } from '../../../../src/services/runtime/bus.js';
import { SharedGenerateLimiter, type SharedLimiterDeps } from '../../../../src/services/runtime/busLimiter.js';
import { openStores, type Stores } from '../../../../src/services/runtime/store.js';
import { redisBackend } from '../../../helpers/stores.js';

const until = async (check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/**
 * The generate limiter several processes share on one Redis (DESIGN §8), each "process" here with its
 * own connections, on a real redis-server: one sliding-log window per kie key, fair across servers,
 * FIFO within one, positions global.
 */
describe('SharedGenerateLimiter (real redis-server)', () => {
  let location: Extract<StoreLocation, { kind: 'redis' }>;
  let opened: { stores: Stores; bus: RedisBus; limiter: SharedGenerateLimiter }[];

  beforeEach(async () => {
    const fresh = await redisBackend.fresh();
    if (fresh.kind !== 'redis') throw new Error('expected a Redis location');
    location = fresh;
    opened = [];
  });

  afterEach(async () => {
    for (const p of opened) {
      await p.limiter.stop().catch(() => undefined);
      await p.bus.close();
      await p.stores.close();
    }
    await redisBackend.remove(location);
  });

  async function processOf(
    rate: { limit: number; windowMs: number },
    options: Partial<SharedLimiterDeps> = {},
    kieKey = 'kie-key',
  ): Promise<{ limiter: SharedGenerateLimiter; bus: RedisBus }> {
    const stores = openStores(location);
    await stores.ready;
    if (!stores.connectBus) throw new Error('a Redis store opens bus connections');
    const bus = new RedisBus({
      connect: stores.connectBus,
      prefix: location.prefix,
      timeoutMs: 2_000,
      logger: silentLogger,
    });
    await bus.open();
    const limiter = new SharedGenerateLimiter({
      ...rate,
      redis: bus.redis,
      subscribe: (channel, listener) => bus.subscribe(channel, listener),
      base: `${bus.base}limiter:${keyName(kieKey)}:`,
      logger: silentLogger,
      ...options,
    });
    await limiter.start();
    opened.push({ stores, bus, limiter });
    return { limiter, bus };
  }

  it('GIVEN four processes on one window of 5 per 1 s WHEN 20 jobs ask, all at one process or spread THEN 5 go in the first window and 5 more once it slides, whoever asked', async () => {
    const rate = { limit: 5, windowMs: 1_000 };
    const processes = await Promise.all([0, 1, 2, 3].map(() => processOf(rate)));
    const granted: string[] = [];
    const ask = (p: number, id: string) =>
      processes[p]!.limiter.acquire(id, undefined, `guild:${id}`).then(
        () => granted.push(id),
        () => undefined,
      );
    // Twelve at one process, eight spread over the others.
    for (let i = 0; i < 12; i++) void ask(0, `one-${i}`);
    for (let i = 0; i < 8; i++) void ask(1 + (i % 3), `spread-${i}`);
    await until(() => granted.length >= 5, 'the first window');
    await new Promise((r) => setTimeout(r, 400));
    expect(granted).toHaveLength(5);
    const waiting = processes.reduce((n, p) => n + p.limiter.waiting, 0);
    expect(waiting).toBe(15);
    // Every waiter sees its place in the one global order: 1..15, each once.
    const positions = processes.flatMap((p, index) =>
      [...Array(20).keys()]
        .map((i) => p.limiter.position(index === 0 ? `one-${i}` : `spread-${i}`))
        .filter((n): n is number => n !== null),
    );
    expect(positions.sort((a, b) => a - b)).toEqual([...Array(15).keys()].map((i) => i + 1));
    await until(() => granted.length >= 10, 'the second window', 3_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(granted).toHaveLength(10);
  });

  it('GIVEN a free window THEN a job is granted without a queue change (no status edit), and one that waited for its place tells the listeners when it goes', async () => {
    const { limiter } = await processOf({ limit: 1, windowMs: 300 });
    let changes = 0;
    limiter.onQueueChange(() => changes++);
    await limiter.acquire('first', undefined, 'guild:a');
    expect(changes).toBe(0);
    const second = limiter.acquire('second', undefined, 'guild:a');
    await until(() => limiter.position('second') === 1, 'the second queued');
    const shown = changes;
    expect(shown).toBeGreaterThan(0);
    await second;
    expect(limiter.position('second')).toBeNull();
    expect(changes).toBeGreaterThan(shown);
  });

  it('GIVEN server A queued 5 at one process WHEN server B (another process) and a DM (a third) ask THEN each round serves one job per server, FIFO within each, and the positions say so', async () => {
    // Everything below queues well inside the first window, so the order is settled before a slot frees.
    const rate = { limit: 1, windowMs: 400 };
    const [a, b, c] = await Promise.all([processOf(rate), processOf(rate), processOf(rate)]);
    const order: string[] = [];
    const ask = (p: { limiter: SharedGenerateLimiter }, id: string, bucket: string) =>
      p.limiter.acquire(id, undefined, bucket).then(() => order.push(id));
    const all = [0, 1, 2, 3, 4, 5].map((i) => ask(a, `a${i}`, 'guild:a'));
    await until(() => a.limiter.waiting === 5 && a.limiter.position('a5') === 5, 'A queued');
    all.push(ask(b, 'b0', 'guild:b'), ask(b, 'b1', 'guild:b'));
    await until(() => b.limiter.position('b1') !== null, 'B queued');
    all.push(ask(c, 'c0', 'dm:u'));
    await until(() => c.limiter.position('c0') !== null && a.limiter.position('a1') === 3, 'the DM queued');
    // a0 had round 0's turn; B and the DM join round 0 behind nobody; round 1 is a1 then b1.
    expect([b.limiter.position('b0'), c.limiter.position('c0'), a.limiter.position('a1')]).toEqual([1, 2, 3]);
    expect(b.limiter.position('b1')).toBe(4);
    await Promise.all(all);
    expect(order).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'a2', 'a3', 'a4', 'a5']);
  });

  it('GIVEN a full window WHEN a waiter is cancelled or its process stops THEN it leaves the global order, is rejected, and the others move up', async () => {
    const rate = { limit: 1, windowMs: 60_000 };
    const [a, b] = await Promise.all([processOf(rate), processOf(rate)]);
    await a.limiter.acquire('first', undefined, 'guild:1');
    // Server 1 had this round's turn: x waits for the next round, behind servers 2 and 3.
    const x = a.limiter.acquire('x', undefined, 'guild:1').catch((error: unknown) => error);
    const y = b.limiter.acquire('y', undefined, 'guild:2').catch((error: unknown) => error);
    const z = b.limiter.acquire('z', undefined, 'guild:3').catch((error: unknown) => error);
    await until(() => a.limiter.position('x') === 3 && b.limiter.position('z') === 2, 'three waiting');
    expect(b.limiter.position('y')).toBe(1);
    b.limiter.cancel('y');
    expect(await y).toBeInstanceOf(LimiterCancelledError);
    await until(() => b.limiter.position('z') === 1 && a.limiter.position('x') === 2, 'y gone from the order');
    await b.limiter.stop();
    expect(await z).toBeInstanceOf(LimiterCancelledError);
    await until(() => a.limiter.position('x') === 1, 'z gone with its process');
    a.limiter.cancel('x');
    expect(await x).toBeInstanceOf(LimiterCancelledError);
    expect(a.limiter.waiting).toBe(0);
  });

  it('GIVEN a process that died with a job at the front THEN the others get the slot once its renewals stop, and the dead job is never granted', async () => {
    const rate = { limit: 1, windowMs: 200 };
    const dead = await processOf(rate, { aliveMs: 300, tickMs: 50 });
    const alive = await processOf(rate, { aliveMs: 300, tickMs: 50 });
    await dead.limiter.acquire('taken', undefined, 'guild:1');
    let deadGranted = false;
    void dead.limiter.acquire('dead-job', undefined, 'guild:1').then(
      () => (deadGranted = true),
      () => undefined,
    );
    await until(() => dead.limiter.position('dead-job') === 1, 'the dead job queued');
    // A kill -9: its connections drop with no word to the queue.
    await dead.bus.close();
    const granted = alive.limiter.acquire('alive-job', undefined, 'guild:2');
    await until(() => alive.limiter.position('alive-job') !== null, 'the live job queued');
    await granted;
    expect(deadGranted).toBe(false);
    expect(alive.limiter.position('dead-job')).toBeNull();
  });

  it('GIVEN two kie keys THEN each has its own window: a full one never delays the other', async () => {
    const rate = { limit: 1, windowMs: 60_000 };
    const one = await processOf(rate, {}, 'key-one');
    const two = await processOf(rate, {}, 'key-two');
    await one.limiter.acquire('a', undefined, 'guild:1');
    await two.limiter.acquire('b', undefined, 'guild:1');
    const blocked = one.limiter.acquire('c', undefined, 'guild:1');
    await until(() => one.limiter.position('c') === 1, 'c queued behind a');
    one.limiter.cancel('c');
    await expect(blocked).rejects.toBeInstanceOf(LimiterCancelledError);
  });
});
