import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FINAL_STATES, type JobRecord, type JobState } from '../jobs/record.js';

const ACTIVE_STATES: readonly JobState[] = ['queued', 'submitting', 'generating', 'delivering'];

export interface MetricsDeps {
  /** Jobs still moving (the store's active index), read at scrape time. */
  readonly activeJobs: () => Promise<readonly Pick<JobRecord, 'state'>[]>;
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

  constructor(deps: MetricsDeps) {
    const registers = [this.registry];
    new Gauge({
      name: 'veo_jobs',
      help: 'Jobs still moving, by state',
      labelNames: ['state'],
      registers,
      async collect() {
        const jobs = await deps.activeJobs();
        for (const state of ACTIVE_STATES) this.set({ state }, jobs.filter((j) => j.state === state).length);
      },
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
      help: '1 while every gateway shard is connected',
      registers,
      // Across shard processes (the sharding manager's /metrics): 1 only while all of them are.
      aggregator: 'min',
      collect() {
        this.set(deps.gatewayReady() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'veo_store_lease_held',
      help: '1 while this process holds the store lease (only the holder runs jobs); across shards, while every shard holds its own',
      registers,
      aggregator: 'min',
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

  /** prom-client's JSON form, which a shard sends the sharding manager to aggregate (see aggregateMetrics). */
  async json(): Promise<object[]> {
    return this.registry.getMetricsAsJSON();
  }

  /** Called by the job store on every write. */
  jobChanged(
    previous: Pick<JobRecord, 'state'> | null,
    next: Pick<JobRecord, 'state' | 'createdAt' | 'finishedAt'>,
  ): void {
    if (previous?.state === next.state || !FINAL_STATES.has(next.state)) return;
    this.#jobsFinished.inc({ state: next.state });
    const end = next.finishedAt ?? Date.now();
    this.#jobDuration.observe({ state: next.state }, Math.max(0, (end - next.createdAt) / 1000));
  }

  kieRequest(path: string, code: string): void {
    const endpoint = path.split('?')[0] ?? path;
    this.#kieRequests.inc({ endpoint, code });
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

/**
 * One Prometheus text from several processes' metrics (each `BotMetrics.json()`): counters and
 * histograms are summed, gauges by their `aggregator` (sum unless they say otherwise).
 */
export async function aggregateMetrics(parts: readonly object[][]): Promise<{ contentType: string; text: string }> {
  const registry = AggregatorRegistry.aggregate([...parts]);
  return { contentType: registry.contentType, text: await registry.metrics() };
}
