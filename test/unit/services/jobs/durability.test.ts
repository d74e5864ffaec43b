import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../../../src/lib/clock.js';
import { silentLogger } from '../../../../src/logger.js';
import { GenerateLimiter } from '../../../../src/services/jobs/limiter.js';
import type { JobRecord } from '../../../../src/services/jobs/record.js';
import { DELIVERY_GIVE_UP_MS } from '../../../../src/services/jobs/record.js';
import { JobRunner } from '../../../../src/services/jobs/runner.js';
import { JobStore } from '../../../../src/services/jobs/store.js';
import { type KiePort } from '../../../../src/services/jobs/ports.js';
import type { GenerateRequest, TaskInfo } from '../../../../src/services/kie/types.js';
import { QuotaService } from '../../../../src/services/quota/service.js';
import { makeJob } from '../../../helpers/jobs.js';
import { FakeDelivery, taskInfo } from '../../../helpers/runnerFakes.js';

const POLL = 1_000;

class FakeKie implements KiePort {
  generateCalls: GenerateRequest[] = [];
  reads: string[] = [];
  status: TaskInfo['status'] = 'generating';
  /** When set, record-info waits for this before answering. */
  gate: Promise<void> | null = null;
  circuit = { isOpen: () => false, onChange: () => () => undefined };

  async generate(request: GenerateRequest): Promise<{ taskId: string }> {
    this.generateCalls.push(request);
    return { taskId: `task${this.generateCalls.length}` };
  }

  async extend(): Promise<{ taskId: string }> {
    return { taskId: `extend${this.generateCalls.length}` };
  }

  async recordInfo(taskId: string): Promise<TaskInfo> {
    this.reads.push(taskId);
    const status = this.status;
    if (this.gate) await this.gate;
    return taskInfo(taskId, status);
  }
}

describe('JobRunner durability: delivery never refunds, callbacks only read (fake timers)', () => {
  const clock: Clock = { now: () => Date.now() };
  let kie: FakeKie;
  let delivery: FakeDelivery;
  let jobs: JobStore;
  let quota: QuotaService;
  let limiter: GenerateLimiter;
  let runner: JobRunner;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    kie = new FakeKie();
    delivery = new FakeDelivery('retry');
    jobs = new JobStore(new Keyv(), clock);
    quota = new QuotaService({
      store: new Keyv(),
      clock,
      // 48 h, so a charge is still inside the window when 24 h of delivery retries end.
      defaults: { limit: 5, windowHours: 48, costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 }, maxActiveJobs: 5 },
    });
    limiter = new GenerateLimiter({ limit: 20, windowMs: 10_000, clock });
    runner = new JobRunner({
      jobs,
      kie,
      quota,
      limiter,
      delivery,
      clock,
      logger: silentLogger,
      random: () => 0.5,
      options: {
        pollIntervalMs: POLL,
        deliveryBackoffBaseMs: 1_000,
        callbackUrl: (id) => `https://bot.example/kie/callback?job=${id}`,
      },
    });
  });

  afterEach(async () => {
    await runner.stop();
    limiter.stop();
    vi.useRealTimers();
  });

  async function accept(): Promise<JobRecord> {
    const job = makeJob({ createdAt: Date.now() });
    expect((await quota.reserve({ guildId: job.guildId, userId: job.requesterId }, job.id, job.options.model)).ok).toBe(
      true,
    );
    await jobs.create(job);
    return job;
  }

  const units = async (job: JobRecord) =>
    (await quota.status({ guildId: job.guildId, userId: job.requesterId })).remaining;

  it('GIVEN Discord refuses delivery for 24 hours THEN the job becomes undeliverable after backing off, and is never refunded', async () => {
    const job = await accept();
    kie.status = 'succeeded';
    runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    expect(runner.nudge(job.id)).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect((await jobs.get(job.id))?.state).toBe('delivering');
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    const anHourIn = delivery.attempts;
    // Backoff grows to 10 minutes: an hour holds far fewer than 3600 / 1 attempts.
    expect(anHourIn).toBeGreaterThan(5);
    expect(anHourIn).toBeLessThan(20);
    expect((await jobs.get(job.id))?.state).toBe('delivering');
    await vi.advanceTimersByTimeAsync(DELIVERY_GIVE_UP_MS);
    const done = await jobs.get(job.id);
    expect(done?.state).toBe('undeliverable');
    expect(done?.refunded).toBe(false);
    expect(done?.interaction.token).toBeNull();
    expect(await units(job)).toBe(4);
    const attempts = delivery.attempts;
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(delivery.attempts).toBe(attempts);
  });

  it('GIVEN a job handed over twice (resume and its command) THEN it is generated once', async () => {
    const job = await accept();
    runner.enqueue(job);
    runner.enqueue(job);
    await runner.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(kie.generateCalls).toHaveLength(1);
    expect(kie.generateCalls[0]?.callBackUrl).toBe(`https://bot.example/kie/callback?job=${job.id}`);
  });

  it('GIVEN callbacks on THEN polling is a safety net every 6 intervals, callbacks read at most once per 5 s, and unknown tasks are ignored', async () => {
    const job = await accept();
    runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(POLL * 5);
    expect(kie.reads).toEqual([]);
    expect(await runner.onCallback('task1', null)).toBe('read');
    await vi.advanceTimersByTimeAsync(0);
    expect(kie.reads).toEqual(['task1']);
    expect(await runner.onCallback('task1', job.id)).toBe('coalesced');
    await vi.advanceTimersByTimeAsync(4_000);
    expect(kie.reads).toEqual(['task1']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await runner.onCallback('task1', null)).toBe('read');
    await vi.advanceTimersByTimeAsync(0);
    expect(kie.reads).toHaveLength(2);
    expect(await runner.onCallback('nobody', null)).toBe('unknown_task');
    expect(await runner.onCallback('nobody', job.id)).toBe('unknown_task');
    expect(kie.reads).toHaveLength(2);
  });

  it('GIVEN a callback during a read already in flight THEN one more read follows it instead of waiting for the next poll', async () => {
    const job = await accept();
    runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(POLL * 6 * 1.1);
    let open!: () => void;
    kie.gate = new Promise((resolve) => (open = resolve));
    await vi.advanceTimersByTimeAsync(POLL * 6 * 1.1);
    expect(kie.reads).toHaveLength(2);
    // kie finishes while our read is on the wire; its callback lands before that read answers "generating".
    kie.status = 'succeeded';
    expect(await runner.onCallback('task1', null)).toBe('read');
    await vi.advanceTimersByTimeAsync(0);
    kie.gate = null;
    delivery.outcomes = ['delivered'];
    open();
    await vi.advanceTimersByTimeAsync(0);
    expect((await jobs.get(job.id))?.state).toBe('delivered');
    expect(delivery.delivered).toEqual([job.id]);
  });

  it('GIVEN a delivery retry pending WHEN a callback or a nudge comes THEN the retry still happens, once', async () => {
    const job = await accept();
    kie.status = 'succeeded';
    delivery.outcomes = ['retry', 'delivered'];
    runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    runner.nudge(job.id);
    await vi.advanceTimersByTimeAsync(0);
    expect(delivery.attempts).toBe(1);
    expect(await runner.onCallback('task1', null)).toBe('ignored');
    await vi.advanceTimersByTimeAsync(5_000);
    runner.nudge(job.id);
    await vi.advanceTimersByTimeAsync(10_000);
    expect((await jobs.get(job.id))?.state).toBe('delivered');
    expect(delivery.delivered).toEqual([job.id]);
    expect(delivery.attempts).toBe(2);
  });
});
