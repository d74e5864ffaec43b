import type { ChildProcess } from 'node:child_process';
import { ShardingManager, type Shard } from 'discord.js';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Clock } from '../../lib/clock.js';
import { shardOfGuild } from '../../lib/shard.js';
import type { Logger } from '../../logger.js';
import type { CallbackHint } from './http.js';
import type { ProbeResult } from './ops.js';
import type { JobStore } from '../jobs/store.js';
import { aggregateMetrics } from './metrics.js';
import { callbackOutcomeSchema, metricsSchema, probeSchema, ShardRequester, type ShardProbe } from './shardLink.js';

export interface ShardFleetDeps {
  /** The compiled shard entry point (Node 20 runs no TypeScript). */
  readonly file: string;
  readonly token: string;
  readonly totalShards: number;
  /** Between two spawns at start (Discord allows one IDENTIFY per 5 s per bucket). */
  readonly spawnDelayMs: number;
  readonly execArgv?: readonly string[];
  /** How long a shard has to answer a request over IPC. */
  readonly requestTimeoutMs?: number;
  /** A shard this young that does not answer yet is starting, not stuck. */
  readonly startingGraceMs?: number;
  /** How long shards get to stop on SIGTERM before they are killed. */
  readonly stopGraceMs?: number;
  /** Job lookups, to route a callback to the shard that owns the job's guild (read only). */
  readonly jobs: Pick<JobStore, 'get' | 'jobIdForTask'>;
  /** Liveness of the manager's own store connection. */
  readonly storeUp: () => Promise<boolean>;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface ShardStatus {
  readonly id: number;
  /** up: answered; starting: young and silent; respawning: no process (discord.js is starting one); unresponsive: alive and silent. */
  readonly state: 'up' | 'starting' | 'respawning' | 'unresponsive';
  readonly pid: number | null;
  readonly restarts: number;
  readonly store?: boolean;
  readonly ready?: boolean;
  readonly lease?: boolean;
}

export type ForwardOutcome = 'forwarded' | 'unknown_job' | 'shard_down' | 'failed';

/**
 * The shards as one bot: discord.js's ShardingManager (one process per shard, respawned when it dies),
 * plus what the manager process adds on top (DESIGN §7, §8): it routes verified kie callbacks to the
 * shard that owns the job's guild, and answers /healthz, /readyz and /metrics for all shards.
 */
export class ShardFleet {
  readonly #manager: ShardingManager;
  readonly #requesters = new Map<number, ShardRequester>();
  readonly #spawnedAt = new Map<number, number>();
  readonly #restarts = new Map<number, number>();
  readonly #registry = new Registry();
  readonly #forwarded: Counter<'outcome'>;
  readonly #answering: Gauge;
  readonly #restartCount: Counter;
  #stopping = false;

  constructor(private readonly deps: ShardFleetDeps) {
    this.#manager = new ShardingManager(deps.file, {
      totalShards: deps.totalShards,
      mode: 'process',
      respawn: true,
      token: deps.token,
      execArgv: [...(deps.execArgv ?? [])],
    });
    this.#manager.on('shardCreate', (shard) => this.#watch(shard));
    const registers = [this.#registry];
    this.#forwarded = new Counter({
      name: 'veo_kie_callbacks_routed_total',
      help: 'Verified kie callbacks the sharding manager routed, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.#answering = new Gauge({ name: 'veo_shards_answering', help: 'Shards that answered this scrape', registers });
    new Gauge({ name: 'veo_shards', help: 'Shards the manager runs', registers }).set(deps.totalShards);
    this.#restartCount = new Counter({
      name: 'veo_shard_restarts_total',
      help: 'Shard processes that died and were respawned',
      registers,
    });
  }

  get totalShards(): number {
    return this.deps.totalShards;
  }

  /** Forks every shard, `spawnDelayMs` apart; does not wait for them to connect. */
  async spawn(): Promise<void> {
    await this.#manager.spawn({ amount: this.deps.totalShards, delay: this.deps.spawnDelayMs, timeout: -1 });
  }

  /** SIGTERM to every shard (each stops the way a single process does), SIGKILL after the grace. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#manager.respawn = false;
    const children = [...this.#manager.shards.values()]
      .map((shard) => shard.process)
      .filter((child): child is ChildProcess => child !== null && child.exitCode === null && child.signalCode === null);
    const exits = children.map((child) => new Promise<void>((resolve) => child.once('exit', () => resolve())));
    for (const child of children) child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      Promise.all(exits).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.deps.stopGraceMs ?? 12_000))),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.deps.logger.warn({}, 'shards did not stop in time; killing them');
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all(exits);
    }
    for (const requester of this.#requesters.values()) requester.failAll();
  }

  /** The shard that owns the job a callback is about: by its task id, else by `?job=` (adoption). */
  async ownerOf(hint: CallbackHint): Promise<number | null> {
    const known = await this.deps.jobs.jobIdForTask(hint.taskId);
    const jobId = known ?? hint.jobId;
    if (jobId === null) return null;
    const job = await this.deps.jobs.get(jobId);
    return job ? shardOfGuild(job.guildId, this.deps.totalShards) : null;
  }

  /** Hands a verified callback to the shard that owns its job; that shard reads kie and moves the job. */
  async forwardCallback(hint: CallbackHint): Promise<ForwardOutcome> {
    const outcome = await this.#forward(hint);
    this.#forwarded.inc({ outcome });
    return outcome;
  }

  async #forward(hint: CallbackHint): Promise<ForwardOutcome> {
    const { logger } = this.deps;
    const owner = await this.ownerOf(hint);
    if (owner === null) {
      logger.debug({ taskId: hint.taskId, jobId: hint.jobId }, 'kie callback for no job we know; ignored');
      return 'unknown_job';
    }
    const requester = this.#requesters.get(owner);
    if (!requester || !this.#manager.shards.get(owner)?.process) {
      logger.warn(
        { taskId: hint.taskId, shard: owner },
        'kie callback for a shard that is down; its polling covers the job',
      );
      return 'shard_down';
    }
    try {
      const result = callbackOutcomeSchema.parse(
        await requester.request({ op: 'callback', taskId: hint.taskId, jobId: hint.jobId }),
      );
      logger.info(
        { taskId: hint.taskId, jobId: hint.jobId, shard: owner, outcome: result },
        'kie callback routed to its shard',
      );
      return 'forwarded';
    } catch (error) {
      logger.warn(
        { taskId: hint.taskId, shard: owner, err: error },
        'kie callback could not be routed; polling covers the job',
      );
      return 'failed';
    }
  }

  /** Every shard, asked over IPC at once. */
  async statuses(): Promise<ShardStatus[]> {
    const now = this.deps.clock.now();
    const ids = Array.from({ length: this.deps.totalShards }, (_, id) => id);
    return Promise.all(
      ids.map(async (id): Promise<ShardStatus> => {
        const pid = this.#manager.shards.get(id)?.process?.pid ?? null;
        const restarts = this.#restarts.get(id) ?? 0;
        const requester = this.#requesters.get(id);
        if (pid === null || !requester) return { id, state: 'respawning', pid, restarts };
        try {
          const probe: ShardProbe = probeSchema.parse(await requester.request({ op: 'probe' }));
          return { id, state: 'up', pid, restarts, ...probe };
        } catch {
          const young = now - (this.#spawnedAt.get(id) ?? 0) < (this.deps.startingGraceMs ?? 30_000);
          return { id, state: young ? 'starting' : 'unresponsive', pid, restarts };
        }
      }),
    );
  }

  /**
   * /healthz: the manager's store answers and no shard is stuck or has lost its store. A shard being
   * respawned is no reason to restart everything (that is what respawn is for).
   */
  async health(): Promise<ProbeResult> {
    const [store, shards] = await Promise.all([this.deps.storeUp().catch(() => false), this.statuses()]);
    const ok = store && shards.every((s) => s.state !== 'unresponsive' && s.store !== false);
    return { ok, json: { status: ok ? 'ok' : 'unhealthy', store, shards } };
  }

  /** /readyz: every shard is connected to the gateway and holds its lease. */
  async readiness(): Promise<ProbeResult> {
    const shards = await this.statuses();
    const ok = shards.every((s) => s.state === 'up' && s.ready === true && s.lease === true);
    return { ok, json: { status: ok ? 'ready' : 'not ready', shards } };
  }

  /** /metrics: every answering shard's metrics summed (gauges by their aggregator), plus the manager's own. */
  async metrics(): Promise<{ contentType: string; text: string }> {
    const parts = await Promise.all(
      [...this.#requesters.values()].map(async (requester) => {
        if (!this.#manager.shards.get(requester.shard)?.process) return null;
        try {
          return metricsSchema.parse(await requester.request({ op: 'metrics' }));
        } catch {
          return null;
        }
      }),
    );
    const answered = parts.filter((p) => p !== null);
    this.#answering.set(answered.length);
    return aggregateMetrics([await this.#registry.getMetricsAsJSON(), ...answered]);
  }

  #watch(shard: Shard): void {
    const { logger } = this.deps;
    const requester = new ShardRequester(
      shard.id,
      (message) => shard.send(message),
      this.deps.requestTimeoutMs ?? 3_000,
    );
    this.#requesters.set(shard.id, requester);
    shard.on('message', (message: unknown) => requester.handle(message));
    shard.on('spawn', (child: ChildProcess | { threadId: number }) => {
      this.#spawnedAt.set(shard.id, this.deps.clock.now());
      logger.info({ shard: shard.id, pid: 'pid' in child ? child.pid : null }, 'shard process started');
    });
    shard.on('ready', () => logger.info({ shard: shard.id }, 'shard connected to Discord'));
    shard.on('death', (child: ChildProcess | { threadId: number }) => {
      requester.failAll();
      if (this.#stopping) return;
      this.#restarts.set(shard.id, (this.#restarts.get(shard.id) ?? 0) + 1);
      this.#restartCount.inc();
      const exit = 'pid' in child ? { pid: child.pid, code: child.exitCode, signal: child.signalCode } : {};
      logger.warn({ shard: shard.id, ...exit }, 'shard process died; respawning it');
    });
    // Emitted when a respawn fails; without a listener it would crash the manager.
    shard.on('error', (error: Error) => logger.error({ shard: shard.id, err: error }, 'shard failed to respawn'));
  }
}
