import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../../../src/lib/clock.js';
import { silentLogger } from '../../../../src/logger.js';
import type { LimiterPort } from '../../../../src/services/jobs/ports.js';
import type { JobRecord } from '../../../../src/services/jobs/record.js';
import { StatusEdits, statusKey } from '../../../../src/services/jobs/statusEdits.js';
import { JobSteps } from '../../../../src/services/jobs/steps.js';
import { JobStore } from '../../../../src/services/jobs/store.js';
import { makeJob } from '../../../helpers/jobs.js';
import { FakeDelivery } from '../../../helpers/runnerFakes.js';

/** The generate queue as StatusEdits sees it: positions set by the test, each move announced. */
class FakeQueue implements Pick<LimiterPort, 'position' | 'onQueueChange'> {
  readonly positions = new Map<string, number>();
  readonly #listeners = new Set<() => void>();

  position(id: string): number | null {
    return this.positions.get(id) ?? null;
  }

  onQueueChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  move(id: string, position: number | null): void {
    if (position === null) this.positions.delete(id);
    else this.positions.set(id, position);
    for (const listener of this.#listeners) listener();
  }
}

describe('statusKey', () => {
  it('GIVEN a state and a queue position THEN only a queued job keys on its position', () => {
    expect(statusKey('queued', 4)).toBe('queued:4');
    expect(statusKey('queued', null)).toBe('queued');
    expect(statusKey('generating', 4)).toBe('generating');
  });
});

describe('StatusEdits (fake timers)', () => {
  const clock: Clock = { now: () => Date.now() };
  let jobs: JobStore;
  let queue: FakeQueue;
  let delivery: FakeDelivery;
  let steps: JobSteps;
  let status: StatusEdits;

  const build = () => new StatusEdits({ jobs, limiter: queue, delivery, steps, clock, logger: silentLogger });
  const editsOf = (job: JobRecord) => delivery.edits.filter((e) => e.jobId === job.id).map((e) => e.content);

  async function queued(position: number): Promise<JobRecord> {
    const job = makeJob({ createdAt: Date.now() });
    await jobs.create(job);
    queue.positions.set(job.id, position);
    return job;
  }

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    jobs = new JobStore(new Keyv(), clock);
    queue = new FakeQueue();
    delivery = new FakeDelivery();
    steps = new JobSteps(silentLogger);
    status = build();
  });

  afterEach(async () => {
    status.stop();
    await steps.stop();
    vi.useRealTimers();
  });

  it('GIVEN a queued job WHEN shown THEN one edit with its position, recorded; shown again unchanged THEN no edit, even past 30 s', async () => {
    const job = await queued(3);
    await status.show(job.id);
    expect(editsOf(job)).toEqual([expect.stringContaining('position 3')]);
    expect((await jobs.get(job.id))?.status).toEqual({ key: 'queued:3', at: Date.now() });
    await status.show(job.id);
    await vi.advanceTimersByTimeAsync(31_000);
    await status.show(job.id);
    // The queue moving without moving this job costs not even a show() (a promise per waiting job per move).
    const shows = vi.spyOn(status, 'show');
    status.follow(job.id);
    queue.move(job.id, 3);
    await vi.advanceTimersByTimeAsync(31_000);
    expect(shows).not.toHaveBeenCalled();
    expect(editsOf(job)).toHaveLength(1);
  });

  it('GIVEN a generating job shown THEN showing it again later edits nothing', async () => {
    const job = makeJob({ state: 'generating', submittedAt: Date.now(), createdAt: Date.now() });
    await jobs.create(job);
    await status.show(job.id);
    await vi.advanceTimersByTimeAsync(31_000);
    await status.show(job.id);
    await vi.advanceTimersByTimeAsync(31_000);
    expect(editsOf(job)).toEqual([expect.stringContaining('Generating')]);
  });

  it('GIVEN a followed job moving twice inside 30 s THEN one trailing edit at 30 s shows the latest position', async () => {
    const job = await queued(3);
    status.follow(job.id);
    await status.show(job.id);
    await vi.advanceTimersByTimeAsync(5_000);
    queue.move(job.id, 2);
    await vi.advanceTimersByTimeAsync(5_000);
    queue.move(job.id, 1);
    await vi.advanceTimersByTimeAsync(19_000);
    expect(editsOf(job)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(editsOf(job)).toEqual([expect.stringContaining('position 3'), expect.stringContaining('position 1')]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(editsOf(job)).toHaveLength(2);
  });

  it('GIVEN the queue moves after the window THEN a followed job shows its new position at once, an unfollowed one not at all', async () => {
    const followed = await queued(2);
    const left = await queued(3);
    const unfollow = status.follow(left.id);
    status.follow(followed.id);
    await status.show(followed.id);
    await status.show(left.id);
    unfollow();
    await vi.advanceTimersByTimeAsync(30_000);
    queue.move(followed.id, 1);
    queue.move(left.id, 2);
    await vi.advanceTimersByTimeAsync(0);
    expect(editsOf(followed)).toEqual([expect.stringContaining('position 2'), expect.stringContaining('position 1')]);
    expect(editsOf(left)).toHaveLength(1);
  });

  it('GIVEN a state change inside the window THEN it waits for the trailing edit; a job past generating is never edited', async () => {
    const job = await queued(1);
    await status.show(job.id);
    queue.move(job.id, null);
    await jobs.update(job.id, (j) => ({ ...j, state: 'generating', submittedAt: Date.now() }));
    await status.show(job.id);
    expect(editsOf(job)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(editsOf(job)).toEqual([expect.stringContaining('position 1'), expect.stringContaining('Generating')]);
    await jobs.update(job.id, (j) => ({ ...j, state: 'delivering' }));
    status.forget(job.id);
    await vi.advanceTimersByTimeAsync(30_000);
    await status.show(job.id);
    expect(editsOf(job)).toHaveLength(2);
  });

  it('GIVEN a restart WHEN the status on record is the same THEN the new process does not repeat it; a change still waits out the window', async () => {
    const job = await queued(2);
    await status.show(job.id);
    status.stop();
    const restarted = build();
    await restarted.show(job.id);
    await vi.advanceTimersByTimeAsync(31_000);
    await restarted.show(job.id);
    expect(editsOf(job)).toHaveLength(1);
    await jobs.update(job.id, (j) => ({ ...j, status: { key: 'queued:2', at: Date.now() } }));
    queue.positions.set(job.id, 1);
    await vi.advanceTimersByTimeAsync(10_000);
    await restarted.show(job.id);
    expect(editsOf(job)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(editsOf(job)).toEqual([expect.stringContaining('position 2'), expect.stringContaining('position 1')]);
    restarted.stop();
  });

  it('GIVEN a trailing edit pending WHEN stopped THEN it never comes and queue moves are no longer heard', async () => {
    const job = await queued(2);
    status.follow(job.id);
    await status.show(job.id);
    queue.move(job.id, 1);
    await vi.advanceTimersByTimeAsync(0);
    status.stop();
    queue.move(job.id, 3);
    await status.show(job.id);
    await vi.advanceTimersByTimeAsync(60_000);
    queue.move(job.id, 1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(editsOf(job)).toHaveLength(1);
  });
});
