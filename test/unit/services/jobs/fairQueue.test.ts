import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { vi } from 'vitest';
import { FairQueue } from '../../../../src/services/jobs/fairQueue.js';
import { GenerateLimiter, queueBucket } from '../../../../src/services/jobs/limiter.js';

const item = (id: string) => ({ id });

function drainIds(queue: FairQueue<{ id: string }>): string[] {
  const out: string[] = [];
  for (let next = queue.shift(); next; next = queue.shift()) out.push(next.id);
  return out;
}

describe('FairQueue', () => {
  it('GIVEN a busy server and a quiet one THEN they take turns, first come first served within each', () => {
    const queue = new FairQueue<{ id: string }>();
    for (let i = 1; i <= 4; i++) queue.push('A', item(`a${i}`));
    queue.push('B', item('b1'));
    queue.push('B', item('b2'));
    expect(['a1', 'b1', 'a2', 'b2', 'a3', 'a4'].map((id) => queue.position(id))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(drainIds(queue)).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'a4']);
    expect(queue.size).toBe(0);
  });

  it('GIVEN a round under way WHEN a new server joins THEN it waits one turn behind each busy one, never more', () => {
    const queue = new FairQueue<{ id: string }>();
    for (let i = 1; i <= 50; i++) queue.push('A', item(`a${i}`));
    for (let i = 1; i <= 3; i++) queue.push('C', item(`c${i}`));
    expect(queue.shift()?.id).toBe('a1');
    // D joins just behind the turn in progress: C and A go once each, then D. (Joining ahead of them
    // instead would let a stream of newcomers starve the servers already waiting.)
    queue.push('D', item('d1'));
    expect(queue.position('d1')).toBe(3);
    expect(drainIds(queue).slice(0, 6)).toEqual(['c1', 'a2', 'd1', 'c2', 'a3', 'c3']);
  });

  it('GIVEN waiters leave THEN the positions of everyone behind them move up, and an emptied server drops out of the round', () => {
    const queue = new FairQueue<{ id: string }>();
    ['a1', 'a2', 'a3'].forEach((id) => queue.push('A', item(id)));
    queue.push('B', item('b1'));
    expect(queue.position('a2')).toBe(3);
    expect(queue.remove('b1')?.id).toBe('b1');
    expect(queue.position('a2')).toBe(2);
    expect(queue.remove('a1')?.id).toBe('a1');
    expect(queue.position('a2')).toBe(1);
    expect(queue.remove('nobody')).toBeUndefined();
    expect(queue.position('b1')).toBeNull();
    expect(drainIds(queue)).toEqual(['a2', 'a3']);
  });

  it('GIVEN DMs THEN each user is a bucket of their own, apart from every server', () => {
    expect(queueBucket({ guildId: null, userId: 'u1' })).toBe('dm:u1');
    expect(queueBucket({ guildId: null, userId: 'u2' })).not.toBe(queueBucket({ guildId: null, userId: 'u1' }));
    expect(queueBucket({ guildId: 'g1', userId: 'u1' })).toBe('guild:g1');
    expect(queueBucket({ guildId: 'g1', userId: 'u2' })).toBe('guild:g1');
  });
});

describe('GenerateLimiter, fair across servers', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('GIVEN server A queues 40 behind a full window WHEN server B queues one THEN B is granted within A’s next turn, and positions follow', async () => {
    const limiter = new GenerateLimiter({ limit: 1, windowMs: 1_000 });
    const granted: string[] = [];
    const ask = (id: string, bucket: string) =>
      void limiter.acquire(id, undefined, bucket).then(
        () => granted.push(id),
        () => undefined,
      );
    for (let i = 0; i < 40; i++) ask(`a${i}`, 'guild:A');
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toEqual(['a0']);
    ask('b0', 'guild:B');
    expect(limiter.position('b0')).toBe(2);
    expect(limiter.position('a2')).toBe(3);
    const changes: (number | null)[] = [];
    limiter.onQueueChange(() => changes.push(limiter.position('b0')));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(granted).toEqual(['a0', 'a1']);
    expect(limiter.position('b0')).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(granted).toEqual(['a0', 'a1', 'b0']);
    expect(changes).toEqual([1, null]);
    limiter.cancel('a5');
    expect(limiter.position('a6')).toBe(4);
    limiter.stop();
  });
});
