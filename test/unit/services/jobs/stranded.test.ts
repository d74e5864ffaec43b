import { RateLimitError } from 'discord.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GENERATION_TIMEOUT_MS, scopeOf, type JobRecord } from '../../../../src/services/jobs/record.js';
import { FaultyStores, storeError, STORE_FAULT_KINDS } from '../../../helpers/faultyStores.js';
import { RIG_POLL_MS, runnerRig, type RunnerRig } from '../../../helpers/runnerFakes.js';

/** Waits (in fake time) until nothing is running or scheduled, or a minute of fake time passed. */
async function settle(rig: RunnerRig): Promise<void> {
  for (let i = 0; i < 600 && rig.runner.busy; i++) await vi.advanceTimersByTimeAsync(100);
}

function rateLimited(): RateLimitError {
  return new RateLimitError({
    global: false,
    method: 'PATCH',
    url: 'http://discord.test/api/v10/webhooks/1/t/messages/@original',
    route: '/webhooks/:id/:token/messages/@original',
    majorParameter: '1',
    hash: 'h',
    limit: Number.POSITIVE_INFINITY,
    timeToReset: 0,
    retryAfter: 0,
    sublimitTimeout: 0,
    scope: 'user',
  });
}

describe('No job is ever stranded: every runner step survives store and Discord errors (fake timers)', () => {
  let rig: RunnerRig;
  let faults: FaultyStores;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    faults = new FaultyStores();
    rig = runnerRig({ faults });
  });

  afterEach(async () => {
    await rig.stop();
    vi.useRealTimers();
  });

  const jobWrite =
    (job: JobRecord, state: string) => (op: { namespace: string; method: string; key: string; state: string | null }) =>
      op.namespace === 'jobs' && op.method === 'set' && op.key === job.id && op.state === state;

  it('GIVEN the record write after generate fails (disk full) THEN the task id is kept and written on retry: one generate, delivered once, charged once', async () => {
    const job = await rig.accept();
    rig.kie.status = 'succeeded';
    faults.failWhen(jobWrite(job, 'generating'), storeError('sqlite_full'), 3);
    rig.runner.enqueue(job);
    await settle(rig);
    const done = await rig.jobs.get(job.id);
    expect(done?.state).toBe('delivered');
    expect(done?.taskId).toBe('task1');
    expect(rig.kie.generateCalls).toHaveLength(1);
    expect(rig.delivery.delivered).toEqual([job.id]);
    expect(await rig.units(job)).toBe(4);
    expect(faults.ops.filter((op) => op.failed)).toHaveLength(3);
  });

  it('GIVEN the refund write fails WHEN kie fails the job THEN the record says failed and refunded at once, the job stays active until the units are back and the member saw why', async () => {
    const job = await rig.accept();
    rig.kie.status = 'failed';
    rig.kie.failure = { errorCode: 500, errorMessage: 'internal error' };
    const ledgerWrite = (op: { namespace: string; method: string }) => op.namespace === 'quota' && op.method === 'set';
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    faults.failWhen(ledgerWrite, storeError('redis_misconf'), 2);
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 1.2);
    const failing = await rig.jobs.get(job.id);
    expect(failing).toMatchObject({ state: 'failed', refunded: true, noticePending: true });
    expect((await rig.jobs.active()).map((j) => j.id)).toEqual([job.id]);
    expect(rig.delivery.failures).toEqual([]);
    await settle(rig);
    const failed = await rig.jobs.get(job.id);
    expect(failed).toMatchObject({ state: 'failed', refunded: true, noticePending: false });
    expect(failed?.interaction.token).toBeNull();
    expect(rig.delivery.failures.map((f) => f.jobId)).toEqual([job.id]);
    expect(await rig.units(job)).toBe(5);
    expect(await rig.jobs.active()).toEqual([]);
  });

  it('GIVEN the store fails every call for 31 minutes from the first poll on THEN polling resumes, and the 30-minute deadline (its own timer) fails the job once the store answers', async () => {
    const job = await rig.accept();
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    expect((await rig.jobs.get(job.id))?.state).toBe('generating');
    faults.down = storeError('sqlite_busy');
    await vi.advanceTimersByTimeAsync(GENERATION_TIMEOUT_MS + 60_000);
    expect(rig.kie.reads).toEqual([]);
    faults.down = null;
    await vi.advanceTimersByTimeAsync(61_000);
    const timedOut = await rig.jobs.get(job.id);
    expect(timedOut).toMatchObject({ state: 'failed', refunded: true, noticePending: false });
    expect(timedOut?.failure?.reason).toBe('timeout');
    expect(rig.delivery.failures.map((f) => f.content)).toEqual([expect.stringMatching(/30 minutes|took too long/i)]);
    expect(await rig.units(job)).toBe(5);
  });

  it("GIVEN a restart long past a job's 30 minutes, its video ready THEN one read delivers it (charged), no failure first", async () => {
    const job = await rig.accept();
    await rig.quota.commit(scopeOf(job), job.id);
    await rig.jobs.update(job.id, (j) => ({
      ...j,
      state: 'generating',
      taskId: 'taskOverdue',
      submittedAt: Date.now() - 2 * GENERATION_TIMEOUT_MS,
    }));
    rig.kie.status = 'succeeded';
    expect(await rig.runner.resume()).toEqual({ generating: 1 });
    await settle(rig);
    expect(await rig.jobs.get(job.id)).toMatchObject({ state: 'delivered', late: false, refunded: false });
    expect(rig.delivery.failures).toEqual([]);
    expect(await rig.units(job)).toBe(4);
  });

  it("GIVEN a restart long past a job's 30 minutes, kie still generating THEN the deadline fails it after that one read", async () => {
    const job = await rig.accept();
    await rig.jobs.update(job.id, (j) => ({
      ...j,
      state: 'generating',
      taskId: 'taskOverdue',
      submittedAt: Date.now() - 2 * GENERATION_TIMEOUT_MS,
    }));
    await rig.runner.resume();
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 1.2);
    expect(rig.kie.reads.length).toBeGreaterThanOrEqual(1);
    expect(await rig.jobs.get(job.id)).toMatchObject({ state: 'failed', refunded: true });
    expect(rig.delivery.failures).toHaveLength(1);
    expect(await rig.units(job)).toBe(5);
  });

  it('GIVEN kie never answers a poll again THEN the deadline still fails the job at 30 minutes', async () => {
    const job = await rig.accept();
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(0);
    let answer!: () => void;
    rig.kie.gate = new Promise((resolve) => (answer = resolve));
    await vi.advanceTimersByTimeAsync(GENERATION_TIMEOUT_MS + 1_000);
    expect(rig.kie.reads).toHaveLength(1);
    expect((await rig.jobs.get(job.id))?.failure?.reason).toBe('timeout');
    expect(rig.delivery.failures).toHaveLength(1);
    expect(await rig.units(job)).toBe(5);
    answer();
  });

  it('GIVEN Discord answers the failure notice with bare 429s THEN it is retried with backoff and shown once; the job leaves the index only then', async () => {
    const job = await rig.accept();
    rig.kie.status = 'failed';
    rig.delivery.failureErrors = [rateLimited(), rateLimited(), rateLimited()];
    rig.runner.enqueue(job);
    await vi.advanceTimersByTimeAsync(RIG_POLL_MS * 1.2);
    expect((await rig.jobs.active()).map((j) => j.id)).toEqual([job.id]);
    // Tried at once, then after 1 s and 2 s more.
    await vi.advanceTimersByTimeAsync(3_500);
    expect(rig.delivery.failureAttempts).toBe(3);
    await settle(rig);
    expect(rig.delivery.failureAttempts).toBe(4);
    expect(rig.delivery.failures).toHaveLength(1);
    expect(await rig.jobs.active()).toEqual([]);
  });

  it('GIVEN the write after a delivery fails THEN the video is not sent again: delivered once, recorded on retry', async () => {
    const job = await rig.accept();
    rig.kie.status = 'succeeded';
    faults.failWhen(jobWrite(job, 'delivered'), storeError('redis_readonly'), 2);
    rig.runner.enqueue(job);
    await settle(rig);
    expect((await rig.jobs.get(job.id))?.state).toBe('delivered');
    expect(rig.delivery.attempts).toBe(1);
    expect(await rig.units(job)).toBe(4);
    expect(await rig.jobs.active()).toEqual([]);
  });

  it('GIVEN a failure written but neither refunded nor shown (a kill) WHEN the next process resumes THEN the member sees it and gets the units back, once', async () => {
    const job = await rig.accept();
    await rig.quota.commit(scopeOf(job), job.id);
    await rig.jobs.update(job.id, (j) => ({
      ...j,
      state: 'failed',
      taskId: 'taskX',
      failure: { reason: 'unknown', policyText: null },
      refunded: true,
      noticePending: true,
      finishedAt: Date.now(),
    }));
    await rig.stop();
    rig = runnerRig({ stores: rig.stores });
    expect(await rig.runner.resume()).toEqual({ failed: 1 });
    await settle(rig);
    expect(rig.delivery.failures.map((f) => f.jobId)).toEqual([job.id]);
    expect(await rig.units(job)).toBe(5);
    expect(await rig.jobs.active()).toEqual([]);
    expect(await rig.runner.resume()).toEqual({});
  });

  it('GIVEN an interaction never acknowledged WHEN abandoned THEN its job fails quietly with its token dropped and its units back, even after store errors', async () => {
    const job = await rig.accept();
    faults.failWhen((op) => op.namespace === 'jobs' && op.method === 'set', storeError('sqlite_busy'), 2);
    rig.runner.abandon(job.id, scopeOf(job));
    await settle(rig);
    const abandoned = await rig.jobs.get(job.id);
    expect(abandoned).toMatchObject({ state: 'failed', refunded: true });
    expect(abandoned?.interaction.token).toBeNull();
    expect(rig.delivery.failures).toEqual([]);
    expect(await rig.units(job)).toBe(5);
    // A reservation whose record never came is only refunded.
    const scope = { guildId: job.guildId, userId: '999999999999999999' };
    expect((await rig.quota.reserve(scope, 'orphan', 'veo3_fast')).ok).toBe(true);
    rig.runner.abandon('orphan', scope);
    await settle(rig);
    expect((await rig.quota.status(scope)).remaining).toBe(5);
  });
});

/**
 * The sweep: one clean job's store calls are counted, then the same job is run again with the Nth call
 * failing, for every N, with each of the errors a real store gives in turn.
 */
describe('a store error at any call of a job (fake timers, every call swept)', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_700_000_000_000 }));
  afterEach(() => vi.useRealTimers());

  async function runOnce(failAt: number | null, kind = STORE_FAULT_KINDS[0]!) {
    const faults = new FaultyStores();
    const rig = runnerRig({ faults });
    const job = await rig.accept();
    // kie says so until asked again after the task finished: then it keeps saying succeeded.
    rig.kie.statuses = ['generating'];
    rig.kie.status = 'succeeded';
    if (failAt !== null) faults.failIn(failAt, storeError(kind));
    const before = faults.count;
    rig.runner.enqueue(job);
    await settle(rig);
    const outcome = {
      ops: faults.count - before,
      record: await rig.jobs.get(job.id),
      units: await rig.units(job),
      delivered: rig.delivery.delivered.filter((id) => id === job.id).length,
      failures: rig.delivery.failures.filter((f) => f.jobId === job.id).length,
      generates: rig.kie.generateCalls.length,
      active: (await rig.jobs.active()).length,
      failedOps: faults.ops.filter((op) => op.failed).map((op) => `${op.namespace}.${op.method}`),
    };
    await rig.stop();
    return outcome;
  }

  it('GIVEN the Nth store call of a job fails, for every N THEN it ends delivered once or failed and refunded once, its message shown, and the quota matches', async () => {
    const clean = await runOnce(null);
    expect(clean).toMatchObject({ delivered: 1, units: 4, active: 0 });
    expect(clean.ops).toBeGreaterThan(15);
    const seen = new Set<string>();
    for (let n = 1; n <= clean.ops; n++) {
      const kind = STORE_FAULT_KINDS[n % STORE_FAULT_KINDS.length]!;
      const run = await runOnce(n, kind);
      expect(run.failedOps, `call ${n}`).toHaveLength(1);
      seen.add(run.failedOps[0]!);
      expect(run.generates, `call ${n}`).toBe(1);
      expect(run.active, `call ${n}`).toBe(0);
      if (run.record?.state === 'delivered') {
        expect({ n, delivered: run.delivered, failures: run.failures, units: run.units }).toEqual({
          n,
          delivered: 1,
          failures: 0,
          units: 4,
        });
      } else {
        expect({
          n,
          state: run.record?.state,
          refunded: run.record?.refunded,
          failures: run.failures,
          units: run.units,
        }).toEqual({
          n,
          state: 'failed',
          refunded: true,
          failures: 1,
          units: 5,
        });
      }
      expect(run.record?.interaction.token, `call ${n}`).toBeNull();
    }
    // Reads and writes of both the job records and the ledger were among the calls that failed.
    expect([...seen].sort()).toEqual(expect.arrayContaining(['jobs.get', 'jobs.set', 'quota.set']));
  });
});

describe('KieCallbacks after a lost record write (fake timers)', () => {
  let rig: RunnerRig;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    rig = runnerRig({ callbackUrl: (id) => `https://bot.example/kie/callback?job=${id}` });
  });

  afterEach(async () => {
    await rig.stop();
    vi.useRealTimers();
  });

  it('GIVEN the task key was written but not the record (then a restart failed the job as unknown) WHEN its ?job= callback comes THEN the task is adopted and the video delivered free', async () => {
    const job = await rig.accept();
    await rig.jobs.update(job.id, (j) => ({
      ...j,
      state: 'failed_unknown',
      refunded: true,
      finishedAt: Date.now(),
    }));
    await rig.quota.refund(scopeOf(job), job.id);
    await rig.stores.jobs.set('task:lost1', job.id);
    rig.kie.status = 'succeeded';
    const recordInfo = rig.kie.recordInfo.bind(rig.kie);
    rig.kie.recordInfo = async (taskId) => ({
      ...(await recordInfo(taskId)),
      params: { prompt: job.options.prompt, callBackUrl: `https://bot.example/kie/callback?job=${job.id}` },
    });
    expect(await rig.callbacks.onCallback('lost1', job.id)).toBe('adopted');
    await settle(rig);
    const adopted = await rig.jobs.get(job.id);
    expect(adopted).toMatchObject({ state: 'delivered', taskId: 'lost1', late: true });
    expect(await rig.units(job)).toBe(5);
  });

  it('GIVEN callbacks for many jobs THEN what decides the 5 s gap is all that is kept', async () => {
    for (let i = 0; i < 50; i++) rig.callbacks.nudge(`job${String(i)}`);
    expect(rig.callbacks.remembered).toBe(50);
    await vi.advanceTimersByTimeAsync(5_000);
    rig.callbacks.nudge('another');
    expect(rig.callbacks.remembered).toBe(1);
  });
});
