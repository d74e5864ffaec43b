import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../../../src/lib/clock.js';
import { silentLogger } from '../../../../src/logger.js';
import { GenerateLimiter } from '../../../../src/services/jobs/limiter.js';
import type { JobRecord } from '../../../../src/services/jobs/record.js';
import { GENERATION_TIMEOUT_MS, LATE_POLL_MS } from '../../../../src/services/jobs/record.js';
import { JobRunner } from '../../../../src/services/jobs/runner.js';
import { JobStore } from '../../../../src/services/jobs/store.js';
import { type KiePort } from '../../../../src/services/jobs/ports.js';
import type { KieCircuitState } from '../../../../src/services/kie/circuit.js';
import { KieOutcomeUnknownError, KiePausedError } from '../../../../src/services/kie/errors.js';
import type { ExtendRequest, GenerateRequest, TaskInfo } from '../../../../src/services/kie/types.js';
import { QuotaService } from '../../../../src/services/quota/service.js';
import { makeJob } from '../../../helpers/jobs.js';
import { FakeDelivery, taskInfo } from '../../../helpers/runnerFakes.js';

const POLL = 1_000;

class FakeKie implements KiePort {
  generateCalls: GenerateRequest[] = [];
  reads = 0;
  generateAnswers: Array<() => Promise<{ taskId: string }>> = [];
  statuses: TaskInfo['status'][] = [];
  failure: Partial<TaskInfo> = {};
  circuitState: KieCircuitState = 'closed';
  listeners = new Set<(state: KieCircuitState) => void>();
  circuit = {
    isOpen: () => this.circuitState !== 'closed',
    onChange: (listener: (state: KieCircuitState) => void) => {
      this.listeners.add(listener);
      return () => this.listeners.delete(listener);
    },
  };

  setCircuit(state: KieCircuitState): void {
    this.circuitState = state;
    for (const l of this.listeners) l(state);
  }

  async generate(request: GenerateRequest): Promise<{ taskId: string }> {
    this.generateCalls.push(request);
    const answer = this.generateAnswers.shift();
    return answer ? answer() : { taskId: `task${this.generateCalls.length}` };
  }

  extendCalls: ExtendRequest[] = [];

  async extend(request: ExtendRequest): Promise<{ taskId: string }> {
    this.extendCalls.push(request);
    return { taskId: `extend${this.extendCalls.length}` };
  }

  async recordInfo(taskId: string): Promise<TaskInfo> {
    this.reads += 1;
    const status = this.statuses.shift() ?? 'generating';
    return taskInfo(taskId, status, status === 'failed' ? this.failure : {});
  }
}

describe('JobRunner state machine (fake clock)', () => {
  const clock: Clock = { now: () => Date.now() };
  let kie: FakeKie;
  let delivery: FakeDelivery;
  let jobs: JobStore;
  let quota: QuotaService;
  let runner: JobRunner;
  let limiter: GenerateLimiter;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    kie = new FakeKie();
    delivery = new FakeDelivery();
    jobs = new JobStore(new Keyv(), clock);
    quota = new QuotaService({
      store: new Keyv(),
      clock,
      defaults: { limit: 5, windowHours: 24, costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 }, maxActiveJobs: 5 },
    });
    limiter = new GenerateLimiter({ limit: 2, windowMs: 10_000, clock });
    runner = new JobRunner({
      jobs,
      kie,
      quota,
      limiter,
      delivery,
      clock,
      logger: silentLogger,
      random: () => 0.5,
      options: { pollIntervalMs: POLL, statusMinIntervalMs: 30_000, deliveryBackoffBaseMs: 1_000 },
    });
  });

  afterEach(async () => {
    await runner.stop();
    limiter.stop();
    vi.useRealTimers();
  });

  async function accept(overrides: Partial<JobRecord> = {}): Promise<JobRecord> {
    const job = makeJob({ createdAt: Date.now(), ...overrides });
    const reserved = await quota.reserve({ guildId: job.guildId, userId: job.requesterId }, job.id, job.options.model);
    expect(reserved.ok).toBe(true);
    await jobs.create(job);
    return job;
  }

  async function units(job: JobRecord): Promise<number> {
    return (await quota.status({ guildId: job.guildId, userId: job.requesterId })).remaining;
  }

  it('GIVEN an accepted job WHEN kie generates then succeeds THEN it is delivered once and stays charged', async () => {
    const job = await accept();
    kie.statuses = ['generating', 'succeeded'];
    runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    expect(kie.generateCalls).toHaveLength(1);
    expect((await jobs.get(job.id))?.state).toBe('generating');
    expect(delivery.edits.map((e) => e.content)).toEqual([expect.stringContaining('Generating')]);
    await vi.advanceTimersByTimeAsync(POLL * 1.1);
    expect(kie.reads).toBe(1);
    await vi.advanceTimersByTimeAsync(POLL * 1.1);
    const done = await jobs.get(job.id);
    expect(done?.state).toBe('delivered');
    expect(done?.interaction.token).toBeNull();
    expect(delivery.delivered).toEqual([job.id]);
    expect(await units(job)).toBe(4);
    expect((await jobs.active()).map((j) => j.id)).toEqual([]);
    expect(delivery.edits).toHaveLength(1);
  });

  it('GIVEN kie reports a content-policy failure THEN the job fails with the reason and is refunded once', async () => {
    const job = await accept();
    kie.statuses = ['failed'];
    kie.failure = { errorCode: 400, errorMessage: 'Your prompt was flagged by Website as violating content policies.' };
    runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(POLL * 1.2);
    const failed = await jobs.get(job.id);
    expect(failed?.state).toBe('failed');
    expect(failed?.failure?.reason).toBe('content_policy');
    expect(failed?.refunded).toBe(true);
    expect(delivery.failures[0]?.content).toContain('flagged by Website');
    expect(await units(job)).toBe(5);
    expect(await quota.refund({ guildId: job.guildId, userId: job.requesterId }, job.id)).toBe(false);
  });

  it('GIVEN generate times out THEN the job is failed_unknown, refunded, and generate was sent once', async () => {
    const job = await accept();
    kie.generateAnswers = [
      () =>
        Promise.reject(
          new KieOutcomeUnknownError({ method: 'POST', path: '/api/v1/veo/generate', attempt: 1, reason: 'timeout' }),
        ),
    ];
    runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    const failed = await jobs.get(job.id);
    expect(failed?.state).toBe('failed_unknown');
    expect(kie.generateCalls).toHaveLength(1);
    expect(await units(job)).toBe(5);
    expect(delivery.failures[0]?.content).toMatch(/Sorry/);
    await vi.advanceTimersByTimeAsync(POLL * 5);
    expect(kie.generateCalls).toHaveLength(1);
  });

  it('GIVEN kie is still generating after 30 minutes THEN the job fails refunded, and a late success is delivered free', async () => {
    const job = await accept();
    runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(GENERATION_TIMEOUT_MS + POLL * 2);
    const timedOut = await jobs.get(job.id);
    expect(timedOut?.state).toBe('failed');
    expect(timedOut?.failure?.reason).toBe('timeout');
    expect(await units(job)).toBe(5);
    expect((await jobs.active()).map((j) => j.id)).toEqual([job.id]);
    const readsAtTimeout = kie.reads;
    kie.statuses = ['succeeded'];
    await vi.advanceTimersByTimeAsync(LATE_POLL_MS + 1_000);
    expect(kie.reads).toBe(readsAtTimeout + 1);
    const late = await jobs.get(job.id);
    expect(late?.state).toBe('delivered');
    expect(late?.late).toBe(true);
    expect(await units(job)).toBe(5);
  });

  it('GIVEN Discord fails delivery twice THEN delivery is retried with backoff and never refunds', async () => {
    const job = await accept();
    kie.statuses = ['succeeded'];
    delivery.outcomes = ['retry', 'retry', 'delivered'];
    runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(POLL * 1.2);
    expect((await jobs.get(job.id))?.deliveryFailures).toBe(1);
    await vi.advanceTimersByTimeAsync(1_200);
    expect((await jobs.get(job.id))?.deliveryFailures).toBe(2);
    await vi.advanceTimersByTimeAsync(2_400);
    expect((await jobs.get(job.id))?.state).toBe('delivered');
    expect(await units(job)).toBe(4);
  });

  it('GIVEN more jobs than the generate rate THEN the rest wait in order with their position shown', async () => {
    const accepted = [await accept(), await accept(), await accept()];
    for (const job of accepted) runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    expect(kie.generateCalls).toHaveLength(2);
    const third = accepted[2]!;
    expect((await jobs.get(third.id))?.state).toBe('queued');
    expect(delivery.edits.find((e) => e.jobId === third.id)?.content).toContain('position 1');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(kie.generateCalls).toHaveLength(3);
    expect((await jobs.get(third.id))?.state).toBe('generating');
  });

  it('GIVEN the circuit opens THEN queued jobs wait, and go when it closes', async () => {
    const job = await accept();
    kie.generateAnswers = [
      () => {
        kie.circuitState = 'paused_credits';
        return Promise.reject(
          new KiePausedError({ method: 'POST', path: '/api/v1/veo/generate', attempt: 0, reason: 'credits' }),
        );
      },
    ];
    runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    expect((await jobs.get(job.id))?.state).toBe('queued');
    kie.setCircuit('closed');
    await vi.advanceTimersByTimeAsync(0);
    expect((await jobs.get(job.id))?.state).toBe('generating');
    expect(kie.generateCalls).toHaveLength(2);
  });

  it('GIVEN a restart with jobs left in each state THEN resume treats each as DESIGN §4 says', async () => {
    const queued = await accept();
    const submitting = await accept();
    await jobs.update(submitting.id, (j) => ({ ...j, state: 'submitting' }));
    const generating = await accept();
    await jobs.update(generating.id, (j) => ({ ...j, state: 'generating', taskId: 'taskG', submittedAt: Date.now() }));
    kie.statuses = ['succeeded'];
    const counts = await runner.resume();
    expect(counts).toEqual({ queued: 1, submitting: 1, generating: 1 });
    await vi.advanceTimersByTimeAsync(0);
    expect((await jobs.get(submitting.id))?.state).toBe('failed_unknown');
    expect((await jobs.get(submitting.id))?.refunded).toBe(true);
    expect(kie.generateCalls.map((c) => c.prompt)).toHaveLength(1);
    expect((await jobs.get(queued.id))?.state).toBe('generating');
    expect((await jobs.get(generating.id))?.state).toBe('delivered');
  });

  it('GIVEN queue positions change quickly THEN status edits are coalesced to one per 30 s', async () => {
    const accepted = [];
    for (let i = 0; i < 6; i++) accepted.push(await accept({ requesterId: `10000000000000000${i}` }));
    for (const job of accepted) runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    const last = accepted[5]!;
    const before = delivery.edits.filter((e) => e.jobId === last.id).length;
    expect(before).toBe(1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(delivery.edits.filter((e) => e.jobId === last.id)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(11_000);
    expect(delivery.edits.filter((e) => e.jobId === last.id).length).toBeGreaterThanOrEqual(2);
  });

  const animateOptions = { ...makeJob().options, aspectRatio: 'Auto' as const, imageUrls: [], imagesPending: true };

  it('GIVEN an animate job whose image was not an image WHEN failBeforeSubmit THEN it fails refunded with the reason and no generate', async () => {
    const job = await accept({ options: animateOptions });
    await runner.failBeforeSubmit(job.id, 'not_an_image');
    const failed = await jobs.get(job.id);
    expect(failed?.state).toBe('failed');
    expect(failed?.failure).toEqual({ reason: 'not_an_image', policyText: null });
    expect(failed?.refunded).toBe(true);
    expect(failed?.interaction.token).toBeNull();
    expect(delivery.failures[0]?.content).toContain('not actually a JPEG, PNG or WebP image');
    expect(delivery.failures[0]?.content).toContain('1 unit(s) returned to you');
    expect(await units(job)).toBe(5);
    await vi.advanceTimersByTimeAsync(POLL * 3);
    expect(kie.generateCalls).toEqual([]);
    // A second call (or one for a job already moving) changes nothing.
    await runner.failBeforeSubmit(job.id, 'image_upload');
    expect((await jobs.get(job.id))?.failure?.reason).toBe('not_an_image');
    expect(delivery.failures).toHaveLength(1);
  });

  it('GIVEN a restart between the defer and the image upload THEN resume fails that job with an apology and a refund, never a text-only generate', async () => {
    const pending = await accept({ options: animateOptions });
    const uploaded = await accept({
      options: { ...animateOptions, imageUrls: ['https://kie.example/first.png'], imagesPending: false },
    });
    const counts = await runner.resume();
    expect(counts).toEqual({ queued: 2 });
    await vi.advanceTimersByTimeAsync(0);
    const failed = await jobs.get(pending.id);
    expect(failed?.state).toBe('failed');
    expect(failed?.failure?.reason).toBe('image_interrupted');
    expect(failed?.refunded).toBe(true);
    expect(delivery.failures.find((f) => f.jobId === pending.id)?.content).toMatch(
      /Sorry: the bot restarted before your image/,
    );
    expect(await units(pending)).toBe(4);
    expect(kie.generateCalls).toHaveLength(1);
    expect(kie.generateCalls[0]?.imageUrls).toEqual(['https://kie.example/first.png']);
    expect((await jobs.get(uploaded.id))?.state).toBe('generating');
  });

  it('GIVEN an animate job accepted by this process while resume runs THEN resume leaves it to its command', async () => {
    const job = makeJob({ createdAt: Date.now(), options: animateOptions });
    runner.claim(job.id);
    await accept(job);
    expect(await runner.resume()).toEqual({});
    await vi.advanceTimersByTimeAsync(POLL);
    const untouched = await jobs.get(job.id);
    expect(untouched?.state).toBe('queued');
    expect(untouched?.refunded).toBe(false);
    expect(delivery.failures).toEqual([]);
    // Once resume is over, claims are no longer needed or kept.
    runner.claim('later');
    expect(await runner.resume()).toEqual({ queued: 1 });
  });
});
