import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { t } from '../../../../src/i18n/index.js';
import { GENERATION_TIMEOUT_MS, LATE_POLL_MS, type JobRecord } from '../../../../src/services/jobs/record.js';
import { KieOutcomeUnknownError, KiePausedError } from '../../../../src/services/kie/errors.js';
import { makeJob } from '../../../helpers/jobs.js';
import { RIG_POLL_MS, runnerRig, type RunnerRig } from '../../../helpers/runnerFakes.js';

describe('JobRunner state machine (fake clock)', () => {
  let rig: RunnerRig;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    rig = runnerRig();
  });

  afterEach(async () => {
    await rig.stop();
    vi.useRealTimers();
  });

  it('GIVEN an accepted job WHEN kie generates then succeeds THEN it is delivered once and stays charged', async () => {
    const job = await rig.accept();
    rig.kie.statuses = ['generating', 'succeeded'];
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    expect(rig.kie.generateCalls).toHaveLength(1);
    expect((await rig.jobs.get(job.id))?.state).toBe('generating');
    expect(rig.delivery.edits.map((e) => e.content)).toEqual([expect.stringContaining('Generating')]);
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 1.1);
    expect(rig.kie.reads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 1.1);
    const done = await rig.jobs.get(job.id);
    expect(done?.state).toBe('delivered');
    expect(done?.interaction.token).toBeNull();
    expect(rig.delivery.delivered).toEqual([job.id]);
    expect(await rig.units(job)).toBe(4);
    expect((await rig.jobs.active()).map((j) => j.id)).toEqual([]);
    expect(rig.delivery.edits).toHaveLength(1);
  });

  it('GIVEN kie reports a content-policy failure THEN the job fails with the reason and is refunded once', async () => {
    const job = await rig.accept();
    rig.kie.statuses = ['failed'];
    rig.kie.failure = {
      errorCode: 400,
      errorMessage: 'Your prompt was flagged by Website as violating content policies.',
    };
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 1.2);
    const failed = await rig.jobs.get(job.id);
    expect(failed?.state).toBe('failed');
    expect(failed?.failure?.reason).toBe('content_policy');
    expect(failed?.refunded).toBe(true);
    expect(rig.delivery.failures[0]?.content).toContain('flagged by Website');
    expect(await rig.units(job)).toBe(5);
    expect(await rig.quota.refund({ guildId: job.guildId, userId: job.requesterId }, job.id)).toBe(false);
  });

  it('GIVEN generate times out THEN the job is failed_unknown, refunded, and generate was sent once', async () => {
    const job = await rig.accept();
    rig.kie.generateAnswers = [
      () =>
        Promise.reject(
          new KieOutcomeUnknownError({ method: 'POST', path: '/api/v1/veo/generate', attempt: 1, reason: 'timeout' }),
        ),
    ];
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    const failed = await rig.jobs.get(job.id);
    expect(failed?.state).toBe('failed_unknown');
    expect(rig.kie.generateCalls).toHaveLength(1);
    expect(await rig.units(job)).toBe(5);
    expect(rig.delivery.failures[0]?.content).toMatch(/Sorry/);
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 5);
    expect(rig.kie.generateCalls).toHaveLength(1);
  });

  it('GIVEN kie is still generating after 30 minutes THEN the job fails refunded, and a late success is delivered free', async () => {
    const job = await rig.accept();
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(GENERATION_TIMEOUT_MS + RIG_POLL_MS * 2);
    const timedOut = await rig.jobs.get(job.id);
    expect(timedOut?.state).toBe('failed');
    expect(timedOut?.failure?.reason).toBe('timeout');
    expect(await rig.units(job)).toBe(5);
    expect((await rig.jobs.active()).map((j) => j.id)).toEqual([job.id]);
    const readsAtTimeout = rig.kie.reads.length;
    rig.kie.statuses = ['succeeded'];
    await vi.advanceTimersByTimeAsync(LATE_POLL_MS + 1_000);
    expect(rig.kie.reads).toHaveLength(readsAtTimeout + 1);
    const late = await rig.jobs.get(job.id);
    expect(late?.state).toBe('delivered');
    expect(late?.late).toBe(true);
    expect(await rig.units(job)).toBe(5);
  });

  it('GIVEN Discord fails delivery twice THEN delivery is retried with backoff and never refunds', async () => {
    const job = await rig.accept();
    rig.kie.statuses = ['succeeded'];
    rig.delivery.outcomes = ['retry', 'retry', 'delivered'];
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 1.2);
    expect((await rig.jobs.get(job.id))?.deliveryFailures).toBe(1);
    await vi.advanceTimersByTimeAsync(1_200);
    expect((await rig.jobs.get(job.id))?.deliveryFailures).toBe(2);
    await vi.advanceTimersByTimeAsync(2_400);
    expect((await rig.jobs.get(job.id))?.state).toBe('delivered');
    expect(await rig.units(job)).toBe(4);
  });

  it('GIVEN a result the media fetch guard refuses THEN the job fails once with the refund, never retried', async () => {
    const job = await rig.accept();
    rig.kie.statuses = ['succeeded'];
    rig.delivery.outcomes = ['refused'];
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 1.2);
    const failed = await rig.jobs.get(job.id);
    expect(failed).toMatchObject({ state: 'failed', failure: { reason: 'media_refused' }, refunded: true });
    expect(await rig.units(job)).toBe(5);
    expect(rig.delivery.attempts).toBe(1);
    expect(rig.delivery.failures.map((f) => f.content.split('\n')[1])).toEqual([t('en-US', 'failed.media_refused')]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(rig.delivery.attempts).toBe(1);
  });

  it('GIVEN more jobs than the generate rate THEN the rest wait in order with their position shown', async () => {
    const accepted = [await rig.accept(), await rig.accept(), await rig.accept()];
    for (const job of accepted) rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    expect(rig.kie.generateCalls).toHaveLength(2);
    const third = accepted[2]!;
    expect((await rig.jobs.get(third.id))?.state).toBe('queued');
    expect(rig.delivery.edits.find((e) => e.jobId === third.id)?.content).toContain('position 1');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rig.kie.generateCalls).toHaveLength(3);
    expect((await rig.jobs.get(third.id))?.state).toBe('generating');
  });

  it('GIVEN the circuit opens THEN queued jobs wait, and go when it closes', async () => {
    const job = await rig.accept();
    rig.kie.generateAnswers = [
      () => {
        rig.kie.circuitState = 'paused_credits';
        return Promise.reject(
          new KiePausedError({ method: 'POST', path: '/api/v1/veo/generate', attempt: 0, reason: 'credits' }),
        );
      },
    ];
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    expect((await rig.jobs.get(job.id))?.state).toBe('queued');
    rig.kie.setCircuit('closed');
    await vi.advanceTimersByTimeAsync(0);
    expect((await rig.jobs.get(job.id))?.state).toBe('generating');
    expect(rig.kie.generateCalls).toHaveLength(2);
  });

  it('GIVEN a restart with jobs left in each state THEN resume treats each as DESIGN §4 says', async () => {
    const queued = await rig.accept();
    const submitting = await rig.accept();
    await rig.jobs.update(submitting.id, (j) => ({ ...j, state: 'submitting' }));
    const generating = await rig.accept();
    await rig.jobs.update(generating.id, (j) => ({
      ...j,
      state: 'generating',
      taskId: 'taskG',
      submittedAt: Date.now(),
    }));
    rig.kie.statuses = ['succeeded'];
    const counts = await rig.runner.resume();
    expect(counts).toEqual({ queued: 1, submitting: 1, generating: 1 });
    await vi.advanceTimersByTimeAsync(0);
    expect((await rig.jobs.get(submitting.id))?.state).toBe('failed_unknown');
    expect((await rig.jobs.get(submitting.id))?.refunded).toBe(true);
    expect(rig.kie.generateCalls.map((c) => c.prompt)).toHaveLength(1);
    expect((await rig.jobs.get(queued.id))?.state).toBe('generating');
    expect((await rig.jobs.get(generating.id))?.state).toBe('delivered');
  });

  it('GIVEN queue positions change quickly THEN status edits are coalesced to one per 30 s', async () => {
    const accepted: JobRecord[] = [];
    for (let i = 0; i < 6; i++) accepted.push(await rig.accept({ requesterId: `10000000000000000${i}` }));
    for (const job of accepted) rig.runner.enqueue(job);
    const editsOf = (job: JobRecord) => rig.delivery.edits.filter((e) => e.jobId === job.id).map((e) => e.content);
    const counts = () => accepted.map((job) => editsOf(job).length);
    const last = accepted[5]!;
    await vi.advanceTimersByTimeAsync(0);
    // Two generate at once; the other four wait at positions 1 to 4.
    expect(counts()).toEqual([1, 1, 1, 1, 1, 1]);
    expect(editsOf(last)).toEqual([expect.stringContaining('position 4')]);
    // The last moves to position 2 at 10 s and generates at 20 s: both inside its 30 s window.
    await vi.advanceTimersByTimeAsync(20_000);
    expect(counts()).toEqual([1, 1, 1, 1, 1, 1]);
    // One trailing edit each at 30 s shows the latest state; the first two never changed again.
    await vi.advanceTimersByTimeAsync(11_000);
    expect(counts()).toEqual([1, 1, 2, 2, 2, 2]);
    expect(editsOf(last)).toEqual([expect.stringContaining('position 4'), expect.stringContaining('Generating')]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(counts()).toEqual([1, 1, 2, 2, 2, 2]);
  });

  const animateOptions = { ...makeJob().options, aspectRatio: 'Auto' as const, imageUrls: [], imagesPending: true };

  it('GIVEN an animate job whose image was not an image WHEN failBeforeSubmit THEN it fails refunded with the reason and no generate', async () => {
    const job = await rig.accept({ options: animateOptions });
    await rig.runner.failBeforeSubmit(job.id, 'not_an_image');
    const failed = await rig.jobs.get(job.id);
    expect(failed?.state).toBe('failed');
    expect(failed?.failure).toEqual({ reason: 'not_an_image', policyText: null });
    expect(failed?.refunded).toBe(true);
    expect(failed?.interaction.token).toBeNull();
    expect(rig.delivery.failures[0]?.content).toContain('not actually a JPEG, PNG or WebP image');
    expect(rig.delivery.failures[0]?.content).toContain('1 unit(s) returned to you');
    expect(await rig.units(job)).toBe(5);
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 3);
    expect(rig.kie.generateCalls).toEqual([]);
    // A second call (or one for a job already moving) changes nothing.
    await rig.runner.failBeforeSubmit(job.id, 'image_upload');
    expect((await rig.jobs.get(job.id))?.failure?.reason).toBe('not_an_image');
    expect(rig.delivery.failures).toHaveLength(1);
  });

  it('GIVEN a restart between the defer and the image upload THEN resume fails that job with an apology and a refund, never a text-only generate', async () => {
    const pending = await rig.accept({ options: animateOptions });
    const uploaded = await rig.accept({
      options: { ...animateOptions, imageUrls: ['https://rig.kie.example/first.png'], imagesPending: false },
    });
    const counts = await rig.runner.resume();
    expect(counts).toEqual({ queued: 2 });
    await vi.advanceTimersByTimeAsync(0);
    const failed = await rig.jobs.get(pending.id);
    expect(failed?.state).toBe('failed');
    expect(failed?.failure?.reason).toBe('image_interrupted');
    expect(failed?.refunded).toBe(true);
    expect(rig.delivery.failures.find((f) => f.jobId === pending.id)?.content).toMatch(
      /Sorry: the bot restarted before your image/,
    );
    expect(await rig.units(pending)).toBe(4);
    expect(rig.kie.generateCalls).toHaveLength(1);
    expect(rig.kie.generateCalls[0]?.imageUrls).toEqual(['https://rig.kie.example/first.png']);
    expect((await rig.jobs.get(uploaded.id))?.state).toBe('generating');
  });

  it('GIVEN an animate job accepted by this process while resume runs THEN resume leaves it to its command', async () => {
    const job = makeJob({ createdAt: Date.now(), options: animateOptions });
    rig.runner.claim(job.id);
    await rig.accept(job);
    expect(await rig.runner.resume()).toEqual({});
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS);
    const untouched = await rig.jobs.get(job.id);
    expect(untouched?.state).toBe('queued');
    expect(untouched?.refunded).toBe(false);
    expect(rig.delivery.failures).toEqual([]);
    // Once resume is over, claims are no longer needed or kept.
    rig.runner.claim('later');
    expect(await rig.runner.resume()).toEqual({ queued: 1 });
  });
});
