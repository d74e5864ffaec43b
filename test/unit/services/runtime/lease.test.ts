import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../../../src/lib/clock.js';
import { LeaseService, type LeaseDeps, type LeaseHolder } from '../../../../src/services/runtime/lease.js';
import { recordingLogger, type LogLine } from '../../../helpers/logger.js';

const TTL = 30_000;

/**
 * A store over the network: each read and write takes effect `readMs` / `writeMs` after it was issued
 * (fake time), so two processes can both read "free" before either write lands.
 */
function storeWithLatency(readMs: number, writeMs: number): Keyv {
  const data = new Map<string, unknown>();
  const after = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  return new Keyv({
    store: {
      get: async (key: string) => {
        await after(readMs);
        return data.get(key);
      },
      set: async (key: string, value: unknown) => {
        await after(writeMs);
        data.set(key, value);
        return true;
      },
      delete: async (key: string) => {
        await after(writeMs);
        return data.delete(key);
      },
      clear: () => {
        data.clear();
        return Promise.resolve();
      },
    },
  });
}

describe('LeaseService (DESIGN §8 single writer, fake timers)', () => {
  const clock: Clock = { now: () => Date.now() };
  let store: Keyv;
  let logs: LogLine[];
  const leases: LeaseService[] = [];

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    store = new Keyv();
    logs = [];
  });

  afterEach(() => {
    for (const lease of leases.splice(0)) lease.stop();
    vi.useRealTimers();
  });

  function lease(overrides: Partial<LeaseDeps> = {}): LeaseService {
    const made = new LeaseService({
      store,
      clock,
      logger: recordingLogger(logs),
      ttlMs: TTL,
      pid: 100,
      host: 'box-a',
      pidNamespace: 'pid:[1]',
      isProcessAlive: () => true,
      ...overrides,
    });
    leases.push(made);
    return made;
  }

  async function holder(): Promise<LeaseHolder | undefined> {
    return (await store.get<LeaseHolder>('0')) ?? undefined;
  }

  it('GIVEN a free store THEN the lease is taken with pid, host and a 30 s expiry, renewed every 10 s, and deleted on release', async () => {
    const mine = lease();
    const t0 = Date.now();
    const taking = mine.acquire();
    await vi.advanceTimersByTimeAsync(1_000);
    await taking;
    expect(mine.held).toBe(true);
    expect(await holder()).toMatchObject({ pid: 100, host: 'box-a', expiresAt: t0 + TTL });
    // Taken after a 500 ms read-back pause, renewed 10 s later.
    await vi.advanceTimersByTimeAsync(10_000);
    expect((await holder())?.expiresAt).toBe(t0 + 500 + 10_000 + TTL);
    await mine.release();
    expect(mine.held).toBe(false);
    expect(await holder()).toBeUndefined();
  });

  it('GIVEN another live process holds it THEN acquire waits and says why, and takes it only once that lease expired', async () => {
    await store.set('0', {
      id: 'other',
      pid: 200,
      host: 'box-b',
      expiresAt: Date.now() + 25_000,
    } satisfies LeaseHolder);
    const mine = lease();
    let done = false;
    const taking = mine.acquire().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(20_000);
    expect(done).toBe(false);
    const waits = logs.filter((l) => l.message.startsWith('store lease held by another live process'));
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits[0]!.fields).toMatchObject({ holderPid: 200, holderHost: 'box-b', attempt: 1 });
    expect(waits[0]!.level).toBe('warn');
    await vi.advanceTimersByTimeAsync(15_000);
    await taking;
    expect(done).toBe(true);
    expect((await holder())?.pid).toBe(100);
  });

  it('GIVEN the holder on this host is a dead process (kill -9) THEN its lease is taken at once, without waiting for its TTL', async () => {
    await store.set('0', {
      id: 'crashed',
      pid: 300,
      host: 'box-a',
      pidNamespace: 'pid:[1]',
      expiresAt: Date.now() + TTL,
    } satisfies LeaseHolder);
    const mine = lease({ isProcessAlive: (pid) => pid !== 300 });
    const taking = mine.acquire();
    await vi.advanceTimersByTimeAsync(600);
    await taking;
    expect(mine.held).toBe(true);
    expect(logs.find((l) => l.message === 'store lease acquired')?.fields.tookOver).toEqual({
      pid: 300,
      host: 'box-a',
    });
  });

  it('GIVEN a holder with the same host name in another PID namespace (another container) THEN its pid proves nothing: it waits for the TTL', async () => {
    for (const pidNamespace of ['pid:[2]', null, undefined]) {
      await store.set('0', {
        id: `elsewhere-${String(pidNamespace)}`,
        pid: 300,
        host: 'box-a',
        ...(pidNamespace === undefined ? {} : { pidNamespace }),
        expiresAt: Date.now() + 5_000,
      } satisfies LeaseHolder);
      const mine = lease({ isProcessAlive: () => false });
      const taking = mine.acquire();
      await vi.advanceTimersByTimeAsync(4_000);
      expect(mine.held).toBe(false);
      expect(logs.at(-1)?.message).toMatch(/another PID namespace/);
      await vi.advanceTimersByTimeAsync(11_000);
      await taking;
      expect(mine.held).toBe(true);
      await mine.release();
    }
  });

  it('GIVEN this platform names no PID namespace THEN no pid is trusted, even an identical-looking holder', async () => {
    await store.set('0', {
      id: 'crashed',
      pid: 300,
      host: 'box-a',
      pidNamespace: null,
      expiresAt: Date.now() + 5_000,
    } satisfies LeaseHolder);
    const mine = lease({ pidNamespace: null, isProcessAlive: () => false });
    const taking = mine.acquire();
    await vi.advanceTimersByTimeAsync(4_000);
    expect(mine.held).toBe(false);
    await vi.advanceTimersByTimeAsync(11_000);
    await taking;
    expect(mine.held).toBe(true);
  });

  it('GIVEN a live holder on this host THEN it waits; GIVEN the same pid on this host (a container restarted) THEN it still waits for the TTL', async () => {
    await store.set('0', { id: 'alive', pid: 100, host: 'box-a', expiresAt: Date.now() + 5_000 } satisfies LeaseHolder);
    const mine = lease({ isProcessAlive: () => false });
    const taking = mine.acquire();
    await vi.advanceTimersByTimeAsync(4_000);
    expect(mine.held).toBe(false);
    await vi.advanceTimersByTimeAsync(11_000);
    await taking;
    expect(mine.held).toBe(true);
  });

  /** Two processes 50 ms apart on a store with 10 ms reads and 300 ms writes: both read "free" and both write. */
  async function raceOn(settleMs?: number): Promise<[LeaseService, LeaseService, Promise<void>[]]> {
    store = storeWithLatency(10, 300);
    const settle = settleMs === undefined ? {} : { settleMs };
    const a = lease({ pid: 1, ...settle });
    const b = lease({ pid: 2, ...settle });
    const acquiring = [a.acquire()];
    await vi.advanceTimersByTimeAsync(50);
    acquiring.push(b.acquire());
    await vi.advanceTimersByTimeAsync(1_000);
    return [a, b, acquiring];
  }

  it('GIVEN two processes that both read the lease free before either write lands THEN the read-back after the settle pause leaves exactly one holding it', async () => {
    const [a, b, acquiring] = await raceOn();
    expect([a.held, b.held]).toEqual([false, true]);
    // The loser had written too: only its read-back told it someone else wrote at the same moment.
    expect(
      logs.filter((l) => l.message.startsWith('another process took the store lease at the same moment')),
    ).toMatchObject([{ level: 'warn', fields: { attempt: 1 } }]);
    const reading = holder();
    await vi.advanceTimersByTimeAsync(10);
    expect((await reading)?.pid).toBe(2);

    const releasing = b.release();
    await vi.advanceTimersByTimeAsync(400);
    await releasing;
    await vi.advanceTimersByTimeAsync(11_000);
    await Promise.all(acquiring);
    expect([a.held, b.held]).toEqual([true, false]);
  });

  it('GIVEN the same race with a settle pause shorter than a write THEN both believe they hold it (the pause is what closes the race)', async () => {
    const [a, b] = await raceOn(20);
    expect([a.held, b.held]).toEqual([true, true]);
  });

  it('GIVEN another process overwrote the lease THEN the next renewal gives up and reports the loss', async () => {
    const onLost = vi.fn();
    const mine = lease({ onLost });
    const taking = mine.acquire();
    await vi.advanceTimersByTimeAsync(1_000);
    await taking;
    await store.set('0', { id: 'thief', pid: 999, host: 'box-z', expiresAt: Date.now() + TTL } satisfies LeaseHolder);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(onLost).toHaveBeenCalledTimes(1);
    expect(mine.held).toBe(false);
    expect((await holder())?.id).toBe('thief');
    await mine.release();
    expect((await holder())?.id).toBe('thief');
  });

  it('GIVEN shutdown while waiting THEN acquire stops', async () => {
    await store.set('0', { id: 'other', pid: 200, host: 'box-b', expiresAt: Date.now() + TTL } satisfies LeaseHolder);
    const abort = new AbortController();
    const taking = lease().acquire(abort.signal);
    const reason = new Error('stopping');
    const settled = expect(taking).rejects.toBe(reason);
    await vi.advanceTimersByTimeAsync(1_000);
    abort.abort(reason);
    await settled;
    expect(logs.some((l) => l.message === 'store lease acquired')).toBe(false);
  });
});
