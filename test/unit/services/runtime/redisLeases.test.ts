import { createClient } from '@keyv/redis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StoreLocation } from '../../../../src/config.js';
import { systemClock } from '../../../../src/lib/clock.js';
import { LeaseService, type LeaseDeps, type LeaseHolder } from '../../../../src/services/runtime/lease.js';
import { openStores, type Stores } from '../../../../src/services/runtime/store.js';
import { recordingLogger, type LogLine } from '../../../helpers/logger.js';
import { redisBackend } from '../../../helpers/stores.js';

const TTL = 2_000;

/** DESIGN §8 on a real Redis: the lease is taken with SET NX PX and renewed and released by compare-and-set. */
describe('LeaseService on Redis (atomic writes, real redis-server)', () => {
  let location: Extract<StoreLocation, { kind: 'redis' }>;
  let opened: Stores[];
  let leases: LeaseService[];
  let logs: LogLine[];

  beforeEach(async () => {
    const fresh = await redisBackend.fresh();
    if (fresh.kind !== 'redis') throw new Error('expected a Redis location');
    location = fresh;
    opened = [];
    leases = [];
    logs = [];
  });

  afterEach(async () => {
    for (const lease of leases) lease.stop();
    await Promise.all(opened.map((s) => s.close()));
    await redisBackend.remove(location);
  });

  /** One "process": its own connections, pid and lease. */
  async function process(
    pid: number,
    overrides: Partial<LeaseDeps> = {},
  ): Promise<{ lease: LeaseService; stores: Stores }> {
    const stores = openStores(location);
    opened.push(stores);
    await stores.ready;
    const lease = new LeaseService({
      store: stores.leases,
      atomic: stores.atomicLeases,
      clock: systemClock,
      logger: recordingLogger(logs),
      ttlMs: TTL,
      retryMs: 50,
      renewMs: 200,
      pid,
      host: 'box-a',
      pidNamespace: 'pid:[1]',
      isProcessAlive: () => true,
      ...overrides,
    });
    leases.push(lease);
    return { lease, stores };
  }

  const connect = () => createClient({ url: location.url });

  async function raw<T>(use: (client: ReturnType<typeof connect>) => Promise<T>): Promise<T> {
    const client = connect();
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.close();
    }
  }

  const leaseKey = () => `${location.prefix}:leases::0`;

  it('GIVEN two processes taking the lease at the same moment THEN exactly one holds it (no settle pause needed), with a Redis expiry', async () => {
    const a = await process(1);
    const b = await process(2);
    const taking = [a.lease.acquire(), b.lease.acquire()];
    await Promise.race(taking);
    await new Promise((r) => setTimeout(r, 300));
    expect([a.lease.held, b.lease.held].filter(Boolean)).toHaveLength(1);
    const pttl = await raw((client) => client.pTTL(leaseKey()));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(TTL);
    const holder = a.lease.held ? a : b;
    const waiter = a.lease.held ? b : a;
    await holder.lease.release();
    await Promise.all(taking);
    expect(waiter.lease.held).toBe(true);
  });

  it('GIVEN another process wrote the key THEN the renewal (compare-and-set on our id) fails and reports the loss, and release leaves their lease', async () => {
    const onLost = vi.fn();
    const mine = await process(1, { onLost });
    await mine.lease.acquire();
    const thief: LeaseHolder = { id: 'thief', pid: 9, host: 'box-z', pidNamespace: null, expiresAt: Date.now() + TTL };
    await raw((client) => client.set(leaseKey(), JSON.stringify({ value: thief })));
    await vi.waitFor(() => expect(onLost).toHaveBeenCalledTimes(1), { timeout: 2_000 });
    expect(mine.lease.held).toBe(false);
    await mine.lease.release();
    expect((await mine.stores.leases.get<LeaseHolder>('0'))?.id).toBe('thief');
  });

  it('GIVEN a dead holder in this PID namespace THEN it is replaced at once, atomically: only a process that saw that same holder can replace it', async () => {
    const crashed: LeaseHolder = {
      id: 'crashed',
      pid: 300,
      host: 'box-a',
      pidNamespace: 'pid:[1]',
      expiresAt: Date.now() + 60_000,
    };
    await raw((client) => client.set(leaseKey(), JSON.stringify({ value: crashed })));
    const next = await process(1, { isProcessAlive: (pid) => pid !== 300 });
    await next.lease.acquire();
    expect(next.lease.held).toBe(true);
    expect(logs.find((l) => l.message === 'store lease acquired')?.fields.tookOver).toEqual({
      pid: 300,
      host: 'box-a',
    });
    // The atomic primitive itself refuses a takeover of a holder that has changed since it was read.
    const atomic = next.stores.atomicLeases!;
    expect(await atomic.swap('0', 'crashed', { ...crashed, id: 'late' }, TTL)).toBe(false);
    expect(await atomic.swap('0', null, { ...crashed, id: 'late' }, TTL)).toBe(false);
  });
});
