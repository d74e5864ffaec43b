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

  it('GIVEN a step that throws THEN it is logged with its job, never thrown', async () => {
    const error = vi.fn();
    const logger: Logger = { ...silentLogger, error };
    const logged = new JobSteps(logger);
    logged.run('a', () => Promise.reject(new Error('bug')));
    await vi.advanceTimersByTimeAsync(0);
    expect(error).toHaveBeenCalledWith(expect.objectContaining({ jobId: 'a' }), 'job step failed unexpectedly');
    expect(logged.busy).toBe(false);
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
