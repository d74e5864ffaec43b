import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger, type Logger } from '../../../../src/logger.js';
import { Exclusive, JobSteps } from '../../../../src/services/jobs/steps.js';

/** A promise the test settles itself. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('Exclusive', () => {
  it('GIVEN a run under way WHEN the same job asks again THEN that call does not run, and the run reports it', async () => {
    const exclusive = new Exclusive();
    const { promise, open } = gate();
    let runs = 0;
    const work = async () => {
      runs += 1;
      await promise;
    };
    const first = exclusive.run('a', work);
    expect(await exclusive.run('a', work)).toBe(false);
    // Another job is not held up.
    expect(await exclusive.run('b', async () => undefined)).toBe(false);
    open();
    expect(await first).toBe(true);
    expect(runs).toBe(1);
    expect(await exclusive.run('a', work)).toBe(false);
    expect(runs).toBe(2);
  });

  it('GIVEN a run that throws THEN the error reaches the caller and the job can run again', async () => {
    const exclusive = new Exclusive();
    await expect(exclusive.run('a', () => Promise.reject(new Error('store down')))).rejects.toThrow('store down');
    const work = vi.fn(async () => undefined);
    expect(await exclusive.run('a', work)).toBe(false);
    expect(work).toHaveBeenCalledTimes(1);
  });
});

describe('JobSteps (fake timers)', () => {
  let steps: JobSteps;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    steps = new JobSteps(silentLogger);
  });

  afterEach(async () => {
    await steps.stop();
    vi.useRealTimers();
  });

  it('GIVEN a step scheduled WHEN another is scheduled for the same job THEN only the second runs', async () => {
    const ran: string[] = [];
    steps.schedule('a', 1_000, async () => void ran.push('first'));
    steps.schedule('b', 1_000, async () => void ran.push('other job'));
    steps.schedule('a', 2_000, async () => void ran.push('second'));
    expect(steps.busy).toBe(true);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(ran).toEqual(['other job', 'second']);
    expect(steps.busy).toBe(false);
  });

  it('GIVEN a step that keeps throwing THEN it is logged with its job and run again after 1 s, doubling to 1 min', async () => {
    const warn = vi.fn();
    const logger: Logger = { ...silentLogger, warn };
    const retried = new JobSteps(logger);
    const at: number[] = [];
    const t0 = Date.now();
    const work = async () => {
      at.push(Date.now() - t0);
      throw new Error('SQLITE_BUSY: database is locked');
    };
    void retried.run('a', work);
    await vi.advanceTimersByTimeAsync(4 * 60_000);
    expect(at.slice(0, 9)).toEqual([0, 1_000, 3_000, 7_000, 15_000, 31_000, 63_000, 123_000, 183_000]);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ jobId: 'a', failures: 1, retryInMs: 1_000 }),
      'job step failed; trying again',
    );
    expect(retried.busy).toBe(true);
    await retried.stop();
    expect(retried.busy).toBe(false);
  });

  it('GIVEN a step that fails twice then succeeds THEN `again` is what runs, and the next failure starts the backoff afresh', async () => {
    const ran: string[] = [];
    let failures = 2;
    const again = async () => {
      ran.push('again');
      if (failures-- > 0) throw new Error('disk full');
    };
    void steps.run('a', () => Promise.reject(new Error('disk full')), { again });
    await vi.advanceTimersByTimeAsync(1_000 + 2_000 + 4_000);
    expect(ran).toEqual(['again', 'again', 'again']);
    expect(steps.busy).toBe(false);
    const later: number[] = [];
    const t1 = Date.now();
    void steps.run('a', async () => {
      later.push(Date.now() - t1);
      if (later.length === 1) throw new Error('disk full');
    });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(later).toEqual([0, 1_000]);
  });

  it('GIVEN steps in different lanes THEN scheduling one never replaces the other; cancel drops one lane only', async () => {
    const ran: string[] = [];
    steps.schedule('a', 1_000, async () => void ran.push('poll'));
    steps.schedule('a', 1_000, async () => void ran.push('status'), { lane: 'status' });
    steps.schedule('a', 1_000, async () => void ran.push('deadline'), { lane: 'deadline' });
    steps.cancel('a', 'deadline');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ran.sort()).toEqual(['poll', 'status']);
  });

  it('GIVEN steps running and scheduled WHEN stopped THEN the running one is awaited, the scheduled one and any new one never run', async () => {
    const { promise, open } = gate();
    const ran: string[] = [];
    steps.run('a', async () => {
      await promise;
      ran.push('running');
    });
    steps.schedule('b', 1_000, async () => void ran.push('scheduled'));
    let stopped = false;
    const stopping = steps.stop().then(() => (stopped = true));
    expect(steps.stopping).toBe(true);
    steps.run('c', async () => void ran.push('after stop'));
    steps.schedule('c', 0, async () => void ran.push('after stop'));
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    open();
    await stopping;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(ran).toEqual(['running']);
    expect(steps.busy).toBe(false);
  });
});
