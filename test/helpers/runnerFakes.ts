import Keyv from 'keyv';
import { expect } from 'vitest';
import type { Clock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/logger.js';
import type { MessageView } from '../../src/services/delivery/rest.js';
import type { DeliveryOutcome } from '../../src/services/delivery/video.js';
import { KieCallbacks } from '../../src/services/jobs/callbacks.js';
import { GenerateLimiter } from '../../src/services/jobs/limiter.js';
import type { DeliveryPort, KiePort } from '../../src/services/jobs/ports.js';
import { scopeOf, type JobRecord } from '../../src/services/jobs/record.js';
import { JobRunner } from '../../src/services/jobs/runner.js';
import { StatusEdits } from '../../src/services/jobs/statusEdits.js';
import { JobSteps } from '../../src/services/jobs/steps.js';
import { JobStore } from '../../src/services/jobs/store.js';
import type { KieCircuitState } from '../../src/services/kie/circuit.js';
import type { ExtendRequest, GenerateRequest, TaskInfo } from '../../src/services/kie/types.js';
import { QuotaService } from '../../src/services/quota/service.js';
import type { FaultyStores } from './faultyStores.js';
import { makeJob } from './jobs.js';

/** A record-info answer in the given state; a success carries one result URL. */
export function taskInfo(taskId: string, status: TaskInfo['status'], extra: Partial<TaskInfo> = {}): TaskInfo {
  return {
    taskId,
    status,
    successFlag: status === 'succeeded' ? 1 : status === 'failed' ? 2 : 0,
    resultUrls: status === 'succeeded' ? [`https://files.example/${taskId}.mp4`] : [],
    originUrls: [],
    fullResultUrls: [],
    resolution: null,
    errorCode: null,
    errorMessage: null,
    params: null,
    createdAt: null,
    completedAt: null,
    ...extra,
  };
}

/** Discord as the runner sees it: scripted delivery outcomes, every edit and failure recorded. */
export class FakeDelivery implements DeliveryPort {
  edits: Array<{ jobId: string; content: string }> = [];
  failures: Array<{ jobId: string; content: string }> = [];
  delivered: string[] = [];
  outcomes: Array<DeliveryOutcome['kind']> = [];
  attempts = 0;
  /** Thrown by the next failure notices, in turn (a Discord outage); then they are shown. */
  failureErrors: Error[] = [];
  failureAttempts = 0;

  /** `fallback`: the outcome once the scripted ones run out. */
  constructor(private readonly fallback: DeliveryOutcome['kind'] = 'delivered') {}

  async deliver(job: JobRecord): Promise<DeliveryOutcome> {
    this.attempts += 1;
    const kind = this.outcomes.shift() ?? this.fallback;
    if (kind === 'delivered') {
      this.delivered.push(job.id);
      return { kind, job, messageId: 'm1' };
    }
    if (kind === 'retry') return { kind, job, error: new Error('discord 503') };
    if (kind === 'refused') return { kind, job, reason: 'not_public' };
    return { kind, job, reason: 'DMs closed' };
  }

  async updateJobMessage(job: JobRecord, view: MessageView) {
    this.edits.push({ jobId: job.id, content: view.content });
    return { job, shown: true };
  }

  async showFailure(job: JobRecord, view: MessageView) {
    this.failureAttempts += 1;
    const error = this.failureErrors.shift();
    if (error) throw error;
    this.failures.push({ jobId: job.id, content: view.content });
    return job;
  }
}

/** kie as the runner sees it: generate and extend answer at once, record-info follows a script. */
export class FakeKie implements KiePort {
  generateCalls: GenerateRequest[] = [];
  extendCalls: ExtendRequest[] = [];
  /** Scripted generate answers, used in turn; then a fresh task id. */
  generateAnswers: Array<() => Promise<{ taskId: string }>> = [];
  /** The task id of every record-info read. */
  reads: string[] = [];
  /** Scripted record-info states, used in turn; then `status`. */
  statuses: TaskInfo['status'][] = [];
  status: TaskInfo['status'] = 'generating';
  /** What a failed record-info says. */
  failure: Partial<TaskInfo> = {};
  /** When set, record-info (its state already chosen) waits for this before answering. */
  gate: Promise<void> | null = null;
  circuitState: KieCircuitState = 'closed';
  readonly #listeners = new Set<(state: KieCircuitState) => void>();
  readonly circuit = {
    isOpen: () => this.circuitState !== 'closed',
    onChange: (listener: (state: KieCircuitState) => void) => {
      this.#listeners.add(listener);
      return () => this.#listeners.delete(listener);
    },
  };

  setCircuit(state: KieCircuitState): void {
    this.circuitState = state;
    for (const listener of this.#listeners) listener(state);
  }

  async generate(request: GenerateRequest): Promise<{ taskId: string }> {
    this.generateCalls.push(request);
    const answer = this.generateAnswers.shift();
    return answer ? answer() : { taskId: `task${this.generateCalls.length}` };
  }

  async extend(request: ExtendRequest): Promise<{ taskId: string }> {
    this.extendCalls.push(request);
    return { taskId: `extend${this.extendCalls.length}` };
  }

  async recordInfo(taskId: string): Promise<TaskInfo> {
    this.reads.push(taskId);
    const status = this.statuses.shift() ?? this.status;
    if (this.gate) await this.gate;
    return taskInfo(taskId, status, status === 'failed' ? this.failure : {});
  }
}

/** The first read comes one poll interval after submit (with callbacks on, six). */
export const RIG_POLL_MS = 1_000;

export interface RunnerRigOptions {
  /** The outcome of a delivery once `delivery.outcomes` runs out (default 'delivered'). */
  readonly deliveryFallback?: DeliveryOutcome['kind'];
  readonly callbackUrl?: (jobId: string) => string;
  /** Wraps the rig's stores: failures injected per call. */
  readonly faults?: FaultyStores;
  /** The stores of an earlier rig (a restart on the same data). */
  readonly stores?: { readonly jobs: Keyv; readonly quota: Keyv };
}

/**
 * The jobs subsystem wired as bot.ts wires it, over in-memory stores, FakeKie and FakeDelivery, for
 * tests on fake timers: 5 units a member, 2 generations per 10 s, jitter fixed at none.
 */
export function runnerRig(options: RunnerRigOptions = {}) {
  const clock: Clock = { now: () => Date.now() };
  const logger = silentLogger;
  const kie = new FakeKie();
  const delivery = new FakeDelivery(options.deliveryFallback);
  const stores = options.stores ?? { jobs: new Keyv(), quota: new Keyv() };
  const jobStore = options.faults ? options.faults.keyv('jobs', stores.jobs) : stores.jobs;
  const quotaStore = options.faults ? options.faults.keyv('quota', stores.quota) : stores.quota;
  const jobs = new JobStore(jobStore, clock);
  const quota = new QuotaService({
    store: quotaStore,
    clock,
    // 48 h, so a charge is still inside the window when 24 h of delivery retries end.
    defaults: { limit: 5, windowHours: 48, costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 }, maxActiveJobs: 5 },
  });
  const limiter = new GenerateLimiter({ limit: 2, windowMs: 10_000, clock });
  const steps = new JobSteps(logger);
  const statusEdits = new StatusEdits({ jobs, limiter, delivery, steps, clock, logger });
  const runner = new JobRunner({
    jobs,
    kie,
    quota,
    limiter,
    delivery,
    steps,
    statusEdits,
    clock,
    logger,
    random: () => 0.5,
    options: { pollIntervalMs: RIG_POLL_MS, deliveryBackoffBaseMs: 1_000, callbackUrl: options.callbackUrl },
  });
  const callbacks = new KieCallbacks({ jobs, kie, reader: runner, clock, logger, callbackUrl: options.callbackUrl });

  return {
    stores,
    steps,
    kie,
    delivery,
    jobs,
    quota,
    runner,
    callbacks,
    /** A job accepted as acceptJob does: its units reserved, its record created (not yet enqueued). */
    async accept(overrides: Partial<JobRecord> = {}): Promise<JobRecord> {
      const job = makeJob({ createdAt: Date.now(), ...overrides });
      const reserved = await quota.reserve(scopeOf(job), job.id, job.options.model);
      expect(reserved.ok).toBe(true);
      await jobs.create(job);
      return job;
    },
    /** The units the job's requester has left. */
    async units(job: JobRecord): Promise<number> {
      return (await quota.status(scopeOf(job))).remaining;
    },
    async stop(): Promise<void> {
      await runner.stop();
      limiter.stop();
    },
  };
}

export type RunnerRig = ReturnType<typeof runnerRig>;
