import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DELIVERY_GIVE_UP_MS } from '../../../../src/services/jobs/record.js';
import { RIG_POLL_MS, runnerRig, type RunnerRig } from '../../../helpers/runnerFakes.js';

describe('JobRunner durability: delivery never refunds, callbacks only read (fake timers)', () => {
  let rig: RunnerRig;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    rig = runnerRig({
      deliveryFallback: 'retry',
      callbackUrl: (id) => `https://bot.example/kie/callback?job=${id}`,
    });
  });

  afterEach(async () => {
    await rig.stop();
    vi.useRealTimers();
  });

  it('GIVEN Discord refuses delivery for 24 hours THEN the job becomes undeliverable after backing off, and is never refunded', async () => {
    const job = await rig.accept();
    rig.kie.status = 'succeeded';
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    expect(rig.callbacks.nudge(job.id)).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect((await rig.jobs.get(job.id))?.state).toBe('delivering');
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    const anHourIn = rig.delivery.attempts;
    // Backoff grows to 10 minutes: an hour holds far fewer than 3600 / 1 attempts.
    expect(anHourIn).toBeGreaterThan(5);
    expect(anHourIn).toBeLessThan(20);
    expect((await rig.jobs.get(job.id))?.state).toBe('delivering');
    await vi.advanceTimersByTimeAsync(DELIVERY_GIVE_UP_MS);
    const done = await rig.jobs.get(job.id);
    expect(done?.state).toBe('undeliverable');
    expect(done?.refunded).toBe(false);
    expect(done?.interaction.token).toBeNull();
    expect(await rig.units(job)).toBe(4);
    const attempts = rig.delivery.attempts;
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(rig.delivery.attempts).toBe(attempts);
  });

  it('GIVEN a job handed over twice (resume and its command) THEN it is generated once', async () => {
    const job = await rig.accept();
    rig.runner.enqueue(job);
    rig.runner.enqueue(job);
    await rig.runner.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(rig.kie.generateCalls).toHaveLength(1);
    expect(rig.kie.generateCalls[0]?.callBackUrl).toBe(`https://bot.example/kie/callback?job=${job.id}`);
  });

  it('GIVEN callbacks on THEN polling is a safety net every 6 intervals, callbacks read at most once per 5 s, and unknown tasks are ignored', async () => {
    const job = await rig.accept();
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 5);
    expect(rig.kie.reads).toEqual([]);
    expect(await rig.callbacks.onCallback('task1', null)).toBe('read');
    await vi.advanceTimersByTimeAsync(0);
    expect(rig.kie.reads).toEqual(['task1']);
    expect(await rig.callbacks.onCallback('task1', job.id)).toBe('coalesced');
    await vi.advanceTimersByTimeAsync(4_000);
    expect(rig.kie.reads).toEqual(['task1']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await rig.callbacks.onCallback('task1', null)).toBe('read');
    await vi.advanceTimersByTimeAsync(0);
    expect(rig.kie.reads).toHaveLength(2);
    expect(await rig.callbacks.onCallback('nobody', null)).toBe('unknown_task');
    expect(await rig.callbacks.onCallback('nobody', job.id)).toBe('unknown_task');
    expect(rig.kie.reads).toHaveLength(2);
  });

  it('GIVEN a callback during a read already in flight THEN one more read follows it instead of waiting for the next poll', async () => {
    const job = await rig.accept();
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 6 * 1.1);
    let open!: () => void;
    rig.kie.gate = new Promise((resolve) => (open = resolve));
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 6 * 1.1);
    expect(rig.kie.reads).toHaveLength(2);
    // kie finishes while our read is on the wire; its callback lands before that read answers "generating".
    rig.kie.status = 'succeeded';
    expect(await rig.callbacks.onCallback('task1', null)).toBe('read');
    await vi.advanceTimersByTimeAsync(0);
    rig.kie.gate = null;
    rig.delivery.outcomes = ['delivered'];
    open();
    await vi.advanceTimersByTimeAsync(0);
    expect((await rig.jobs.get(job.id))?.state).toBe('delivered');
    expect(rig.delivery.delivered).toEqual([job.id]);
  });

  it('GIVEN a delivery retry pending WHEN a callback or a nudge comes THEN the retry still happens, once', async () => {
    const job = await rig.accept();
    rig.kie.status = 'succeeded';
    rig.delivery.outcomes = ['retry', 'delivered'];
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    rig.callbacks.nudge(job.id);
    await vi.advanceTimersByTimeAsync(0);
    expect(rig.delivery.attempts).toBe(1);
    expect(await rig.callbacks.onCallback('task1', null)).toBe('ignored');
    await vi.advanceTimersByTimeAsync(5_000);
    rig.callbacks.nudge(job.id);
    await vi.advanceTimersByTimeAsync(10_000);
    expect((await rig.jobs.get(job.id))?.state).toBe('delivered');
    expect(rig.delivery.delivered).toEqual([job.id]);
    expect(rig.delivery.attempts).toBe(2);
  });
});
