import { RESTEvents, SnowflakeUtil, type REST } from 'discord.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../../lib/clock.js';
import type { CallbackOutcome } from '../jobs/callbacks.js';
import { FINAL_STATES, type JobRecord, type JobState } from '../jobs/record.js';
import type { PublicOutcome } from './http.js';

const ACTIVE_STATES: readonly JobState[] = ['queued', 'submitting', 'generating', 'delivering'];

export interface MetricsDeps {
  readonly gatewayReady: () => boolean;
  readonly leaseHeld: () => boolean;
  /** Node process metrics (memory, event loop, GC); off in tests that build many bots. */
  readonly processMetrics?: boolean;
}

/**
 * What /metrics shows (DESIGN §7). Labels are fixed, small sets (states, kie endpoints, codes):
 * never a user, guild, job or task id.
 */
export class BotMetrics {
  readonly registry = new Registry();
  readonly #jobsFinished: Counter<'state'>;
  readonly #jobDuration: Histogram<'state'>;
  readonly #kieRequests: Counter<'endpoint' | 'code'>;
  readonly #ackLatency: Histogram;
  readonly #publicRequests: Counter<'outcome'>;
  readonly #callbacks: Counter<'outcome'>;
  /** Jobs still moving, by id: kept from the store's writes, so a scrape reads no store (DESIGN §7). */
  readonly #moving = new Map<string, JobState>();

  constructor(deps: MetricsDeps) {
    const registers = [this.registry];
    const moving = this.#moving;
    new Gauge({
      name: 'veo_jobs',
      help: 'Jobs still moving, by state',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map<JobState, number>();
        for (const state of moving.values()) counts.set(state, (counts.get(state) ?? 0) + 1);
        for (const state of ACTIVE_STATES) this.set({ state }, counts.get(state) ?? 0);
      },
    });
    this.#publicRequests = new Counter({
      name: 'veo_http_public_requests_total',
      help: 'Requests to the public listener, by answer (accepted callbacks, refusals, unknown paths)',
      labelNames: ['outcome'],
      registers,
    });
    this.#callbacks = new Counter({
      name: 'veo_kie_callbacks_total',
      help: 'Accepted kie callbacks, by what they led to (read, coalesced, unknown_task, mismatch, adopted, ...)',
      labelNames: ['outcome'],
      registers,
    });
    this.#jobsFinished = new Counter({
      name: 'veo_jobs_finished_total',
      help: 'Jobs that reached a final state, by state',
      labelNames: ['state'],
      registers,
    });
    this.#jobDuration = new Histogram({
      name: 'veo_job_duration_seconds',
      help: 'From the accepted command to the final state, by final state',
      labelNames: ['state'],
      buckets: [15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200, 86400],
      registers,
    });
    this.#kieRequests = new Counter({
      name: 'veo_kie_requests_total',
      help: 'kie.ai API requests by endpoint and answer code (body code, HTTP status, timeout or network)',
      labelNames: ['endpoint', 'code'],
      registers,
    });
    this.#ackLatency = new Histogram({
      name: 'veo_discord_ack_latency_seconds',
      help: 'From the interaction (its snowflake time) to Discord answering our acknowledgement',
      buckets: [0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 5],
      registers,
    });
    new Gauge({
      name: 'veo_gateway_ready',
      help: '1 while every gateway shard of this process is connected',
      registers,
      collect() {
        this.set(deps.gatewayReady() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'veo_store_lease_held',
      help: '1 while this process holds the store lease of every shard it runs (only the holder runs their jobs)',
      registers,
      collect() {
        this.set(deps.leaseHeld() ? 1 : 0);
      },
    });
    if (deps.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** /metrics: the Prometheus text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  /** The jobs moving when this process took over (read once at start; every write after updates them). */
  seedJobs(jobs: readonly Pick<JobRecord, 'id' | 'state'>[]): void {
    for (const job of jobs)
      if (!FINAL_STATES.has(job.state) && !this.#moving.has(job.id)) this.#moving.set(job.id, job.state);
  }

  /** Called by the job store on every write. */
  jobChanged(
    previous: Pick<JobRecord, 'state'> | null,
    next: Pick<JobRecord, 'id' | 'state' | 'createdAt' | 'finishedAt'>,
  ): void {
    if (FINAL_STATES.has(next.state)) this.#moving.delete(next.id);
    else this.#moving.set(next.id, next.state);
    if (previous?.state === next.state || !FINAL_STATES.has(next.state)) return;
    this.#jobsFinished.inc({ state: next.state });
    const end = next.finishedAt ?? Date.now();
    this.#jobDuration.observe({ state: next.state }, Math.max(0, (end - next.createdAt) / 1000));
  }

  kieRequest(path: string, code: string): void {
    const endpoint = path.split('?')[0] ?? path;
    this.#kieRequests.inc({ endpoint, code });
  }

  publicRequest(outcome: PublicOutcome): void {
    this.#publicRequests.inc({ outcome });
  }

  callback(outcome: CallbackOutcome | 'standby'): void {
    this.#callbacks.inc({ outcome });
  }

  /** Ack latency: from each interaction's snowflake time to Discord answering our callback. */
  observeAcks(rest: REST, clock: Clock): void {
    rest.on(RESTEvents.Response, (request, response) => {
      if (request.method.toUpperCase() !== 'POST' || !response.ok) return;
      const id = interactionIdOfCallback(request.path);
      if (id !== null) this.interactionAcked(clock.now() - SnowflakeUtil.timestampFrom(id));
    });
  }

  interactionAcked(latencyMs: number): void {
    this.#ackLatency.observe(Math.max(0, latencyMs / 1000));
  }
}

/** The interaction id from an interaction-callback route (`/interactions/<id>/<token>/callback`). */
export function interactionIdOfCallback(path: string): string | null {
  const match = /\/interactions\/(\d+)\/[^/]+\/callback/.exec(path);
  return match?.[1] ?? null;
}
