import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GenerateLimiter, LimiterCancelledError } from '../../../../src/services/jobs/limiter.js';

describe('GenerateLimiter', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Starts acquires and records which ones have resolved or been rejected. */
  function start(limiter: GenerateLimiter, ids: string[]) {
    const granted: string[] = [];
    const rejected: string[] = [];
    for (const id of ids) {
      limiter.acquire(id).then(
        () => void granted.push(id),
        () => void rejected.push(id),
      );
    }
    return { granted, rejected };
  }

  it('GIVEN 20/10s WHEN 25 ask at once THEN 20 pass and 5 queue with positions 1..5', async () => {
    const limiter = new GenerateLimiter({ limit: 20, windowMs: 10_000 });
    const ids = Array.from({ length: 25 }, (_, i) => `j${i}`);
    const { granted, rejected } = start(limiter, ids);
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toEqual(ids.slice(0, 20));
    expect(limiter.waiting).toBe(5);
    expect(ids.slice(20).map((id) => limiter.position(id))).toEqual([1, 2, 3, 4, 5]);
    expect(limiter.position('j0')).toBeNull();
    expect(limiter.position('nobody')).toBeNull();
    limiter.stop();
    await vi.advanceTimersByTimeAsync(0);
    expect(rejected).toEqual(ids.slice(20));
  });

  it('GIVEN a full window WHEN it slides THEN waiters are released in order as old grants expire', async () => {
    const limiter = new GenerateLimiter({ limit: 20, windowMs: 10_000 });
    const first = start(
      limiter,
      Array.from({ length: 10 }, (_, i) => `a${i}`),
    );
    await vi.advanceTimersByTimeAsync(4_000);
    const second = start(
      limiter,
      Array.from({ length: 10 }, (_, i) => `b${i}`),
    );
    const waiting = start(limiter, ['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8', 'w9', 'w10', 'w11', 'w12']);
    await vi.advanceTimersByTimeAsync(0);
    expect(first.granted).toHaveLength(10);
    expect(second.granted).toHaveLength(10);
    expect(waiting.granted).toEqual([]);

    // t=9.999 s: nothing expired yet.
    await vi.advanceTimersByTimeAsync(5_999);
    expect(waiting.granted).toEqual([]);
    // t=10 s: the first ten grants leave the window.
    await vi.advanceTimersByTimeAsync(1);
    expect(waiting.granted).toEqual(['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8', 'w9', 'w10']);
    expect(limiter.position('w11')).toBe(1);
    expect(limiter.position('w12')).toBe(2);
    // t=14 s: the second ten leave.
    await vi.advanceTimersByTimeAsync(4_000);
    expect(waiting.granted).toHaveLength(12);
    expect(limiter.waiting).toBe(0);
  });

  it('GIVEN waiters WHEN positions change THEN listeners hear of it, until they unsubscribe', async () => {
    const limiter = new GenerateLimiter({ limit: 1, windowMs: 1_000 });
    const seen: Array<Array<number | null>> = [];
    const off = limiter.onQueueChange(() => seen.push(['b', 'c'].map((id) => limiter.position(id))));
    start(limiter, ['a', 'b', 'c']);
    expect(seen).toEqual([
      [1, null],
      [1, 2],
    ]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(seen.at(-1)).toEqual([null, 1]);
    off();
    const count = seen.length;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(seen).toHaveLength(count);
  });

  it('GIVEN a throwing listener WHEN the queue moves THEN the waiters are still served', async () => {
    const limiter = new GenerateLimiter({ limit: 1, windowMs: 1_000 });
    limiter.onQueueChange(() => {
      throw new Error('listener broke');
    });
    const { granted } = start(limiter, ['a', 'b']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(granted).toEqual(['a', 'b']);
  });

  it('GIVEN a waiter WHEN cancelled THEN its acquire rejects and those behind move up', async () => {
    const limiter = new GenerateLimiter({ limit: 1, windowMs: 1_000 });
    const { granted, rejected } = start(limiter, ['a', 'c']);
    const b = limiter.acquire('b');
    const d = limiter.acquire('d');
    expect(limiter.position('b')).toBe(2);
    limiter.cancel('c');
    await expect(limiter.acquire('b')).rejects.toThrow(/already waiting/);
    limiter.cancel('b');
    await expect(b).rejects.toBeInstanceOf(LimiterCancelledError);
    expect(limiter.position('d')).toBe(1);
    limiter.cancel('unknown');
    await vi.advanceTimersByTimeAsync(1_000);
    await d;
    expect(granted).toEqual(['a']);
    expect(rejected).toEqual(['c']);
  });

  it('GIVEN a waiter WHEN its signal aborts THEN it rejects with the reason and leaves the queue', async () => {
    const limiter = new GenerateLimiter({ limit: 1, windowMs: 1_000 });
    await limiter.acquire('a');
    const controller = new AbortController();
    const b = limiter.acquire('b', controller.signal);
    const c = limiter.acquire('c');
    controller.abort(new Error('job cancelled'));
    await expect(b).rejects.toThrow('job cancelled');
    expect(limiter.position('c')).toBe(1);
    await expect(limiter.acquire('x', controller.signal)).rejects.toThrow('job cancelled');
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(c).resolves.toBeUndefined();
  });

  it('GIVEN waiters WHEN stopped THEN all reject, no timer remains and new acquires reject', async () => {
    const limiter = new GenerateLimiter({ limit: 1, windowMs: 1_000 });
    await limiter.acquire('a');
    const b = limiter.acquire('b');
    limiter.stop();
    await expect(b).rejects.toBeInstanceOf(LimiterCancelledError);
    expect(vi.getTimerCount()).toBe(0);
    await expect(limiter.acquire('c')).rejects.toBeInstanceOf(LimiterCancelledError);
  });

  it('GIVEN a queue WHEN a timer is armed THEN it is unref-ed so it never holds the process open', () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const limiter = new GenerateLimiter({ limit: 1, windowMs: 1_000 });
    void limiter.acquire('a');
    void limiter.acquire('b').catch(() => undefined);
    const timer = spy.mock.results.at(-1)?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    limiter.stop();
    spy.mockRestore();
  });

  it('GIVEN bad options THEN the constructor refuses them', () => {
    expect(() => new GenerateLimiter({ limit: 0, windowMs: 1_000 })).toThrow();
    expect(() => new GenerateLimiter({ limit: 1, windowMs: 0 })).toThrow();
  });
});
