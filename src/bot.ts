import { Client, GatewayIntentBits, RESTEvents, SnowflakeUtil, Status } from 'discord.js';
import { createCommands } from './commands/index.js';
import { secretsOf, type Config } from './config.js';
import { createInteractionCreateEvent } from './events/interactionCreate.js';
import { registerEvents } from './events/index.js';
import { createReadyEvent } from './events/ready.js';
import { systemClock, type Clock } from './lib/clock.js';
import { downloadCapped } from './lib/download.js';
import { ownsGuild, SINGLE_SHARD } from './lib/shard.js';
import { createLogger, type Logger } from './logger.js';
import { KeptDownloads } from './services/delivery/keptDownloads.js';
import { KEPT_DOWNLOAD_IDLE_MS, KEPT_DOWNLOADS_BYTES, uploadLimitForTier } from './services/delivery/limits.js';
import { DiscordRest, isUnpacedRateLimit } from './services/delivery/rest.js';
import { KieCallbacks } from './services/jobs/callbacks.js';
import { SendLadder } from './services/delivery/send.js';
import { DeliveryService } from './services/delivery/video.js';
import { RecentDurations } from './services/jobs/durations.js';
import { GenerateLimiter } from './services/jobs/limiter.js';
import { GuildSettingsStore } from './services/quota/guildSettings.js';
import { HdService } from './services/delivery/hd.js';
import { HttpServer, type CallbackHint } from './services/runtime/http.js';
import { LeaseService } from './services/runtime/lease.js';
import { BotMetrics, interactionIdOfCallback } from './services/runtime/metrics.js';
import { ImagePreparer } from './services/kie/images.js';
import { adoptShardLayout } from './services/jobs/layout.js';
import { JobRunner } from './services/jobs/runner.js';
import { StatusEdits } from './services/jobs/statusEdits.js';
import { JobSteps } from './services/jobs/steps.js';
import { JobStore } from './services/jobs/store.js';
import { scopeOf } from './services/jobs/record.js';
import { KieClient } from './services/kie/client.js';
import { QuotaService } from './services/quota/service.js';
import { answerManager, processPort, type IpcPort } from './services/runtime/shardLink.js';
import { openStores, type Stores } from './services/runtime/store.js';

export interface BotOverrides {
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Another process took the store lease: the default stops this bot (main() also exits). */
  readonly onLeaseLost?: () => void;
  /** Node process metrics on /metrics (default true). */
  readonly processMetrics?: boolean;
  /** A shard's IPC channel to the sharding manager (default: this process's, when config.shard is set). */
  readonly managerPort?: IpcPort;
  /** Wraps the opened stores (tests inject store faults here; production code stays as it is). */
  readonly wrapStores?: (stores: Stores) => Stores;
  /** The first retry delay of a job step that threw (default 1 s, DESIGN §4); tests shorten it. */
  readonly stepRetryBaseMs?: number;
}

/** Shutdown gives running work this long to write its state before the gateway and store close. */
const STOP_WORK_GRACE_MS = 6_000;

export interface Bot {
  readonly client: Client;
  readonly jobs: JobStore;
  readonly runner: JobRunner;
  readonly quota: QuotaService;
  readonly kie: KieClient;
  readonly logger: Logger;
  readonly lease: LeaseService;
  /**
   * The port /healthz, /readyz, /metrics and /kie/callback are served on, once started (HTTP_PORT 0 picks
   * one); always null in a shard, whose manager serves them.
   */
  readonly httpPort: number | null;
  /** Takes the store lease (waiting while another process holds it), then logs in. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The composition root: the only place services are built and wired (tests call it too). */
export function buildBot(config: Config, overrides: BotOverrides = {}): Bot {
  const clock = overrides.clock ?? systemClock;
  const startedAt = clock.now();
  // A shard handles the guilds with (guild_id >> 22) % count === id, and the DMs when it is shard 0 (DESIGN §8).
  const place = config.shard ?? SINGLE_SHARD;
  const baseLogger = overrides.logger ?? createLogger(config.logLevel, secretsOf(config));
  const logger = config.shard ? baseLogger.child({ shard: place.id }) : baseLogger;
  const opened = openStores(config.store, { timeoutMs: config.storeTimeoutMs });
  const stores = overrides.wrapStores ? overrides.wrapStores(opened) : opened;
  const metrics = new BotMetrics({
    activeJobs: () => jobs.active(),
    gatewayReady: () => gatewayReady(),
    leaseHeld: () => lease.held,
    processMetrics: overrides.processMetrics ?? true,
  });

  const kie = new KieClient({
    apiBaseUrl: config.kieApiBaseUrl,
    uploadBaseUrl: config.kieUploadBaseUrl,
    apiKey: config.kieApiKey,
    clock,
    logger: logger.child({ component: 'kie' }),
    onRequest: ({ path, code }) => metrics.kieRequest(path, code),
  });
  const guildSettings = new GuildSettingsStore(stores.guilds, logger);
  const quota = new QuotaService({
    store: stores.quota,
    clock,
    defaults: config.quota,
    settings: (guildId) => guildSettings.get(guildId),
    logger,
  });
  const jobs = new JobStore(stores.jobs, clock, (previous, next) => metrics.jobChanged(previous, next), place);
  // kie's limit is per account: each of N shards gets 1/N of it.
  // The window is widened by 5%: kie counts arrivals, and network jitter can bunch two requests that
  // left a full window apart (the benchmark saw 21 arrivals in 10 s without it).
  const generateRate = {
    limit: Math.max(1, Math.floor(config.generateRate.limit / place.count)),
    windowMs: Math.ceil(config.generateRate.windowMs * 1.05),
  };
  const limiter = new GenerateLimiter({ ...generateRate, clock, logger });

  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    // Explicit, so discord.js does not take them from SHARDS / SHARD_COUNT itself (config.ts reads the environment).
    shards: [place.id],
    shardCount: place.count,
    waitGuildTimeout: 2_000,
    rest: { api: config.discordApiBaseUrl, timeout: 120_000, rejectOnRateLimit: isUnpacedRateLimit },
    allowedMentions: { parse: [] },
  });
  const gatewayReady = () =>
    client.isReady() && client.ws.shards.size > 0 && client.ws.shards.every((shard) => shard.status === Status.Ready);
  // Ack latency: from the interaction's snowflake time to Discord answering our callback.
  client.rest.on(RESTEvents.Response, (request, response) => {
    if (request.method.toUpperCase() !== 'POST' || !response.ok) return;
    const id = interactionIdOfCallback(request.path);
    const created = id === null ? null : SnowflakeUtil.timestampFrom(id);
    if (created !== null) metrics.interactionAcked(clock.now() - created);
  });
  const rest = new DiscordRest(client.rest, config.applicationId);
  const guildUploadLimit = (guildId: string) => uploadLimitForTier(client.guilds.cache.get(guildId)?.premiumTier ?? 0);
  const download = (url: string, cap: number) => downloadCapped(url, cap);
  const send = new SendLadder({ rest, clock, logger, guildUploadLimit });
  const downloads = new KeptDownloads({
    download,
    clock,
    maxBytes: KEPT_DOWNLOADS_BYTES,
    idleMs: KEPT_DOWNLOAD_IDLE_MS,
  });

  const delivery = new DeliveryService({
    rest,
    send,
    downloads,
    jobs,
    clock,
    logger,
    concurrency: config.deliveryConcurrency,
    unitsLeft: async (job) => {
      const status = await quota.status(scopeOf(job));
      return { remaining: status.remaining, limit: status.limit };
    },
  });
  const durations = new RecentDurations();
  const steps = new JobSteps(
    logger,
    overrides.stepRetryBaseMs === undefined ? {} : { retryBaseMs: overrides.stepRetryBaseMs },
  );
  const statusEdits = new StatusEdits({ jobs, limiter, delivery, steps, clock, logger, durations });
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
    durations,
    options: {
      pollIntervalMs: config.pollIntervalMs,
      callbackUrl: config.publicBaseUrl
        ? (jobId) => `${config.publicBaseUrl ?? ''}/kie/callback?job=${jobId}`
        : undefined,
    },
  });
  const callbacks = new KieCallbacks({ jobs, kie, reader: runner, clock, logger });
  const hd = new HdService({
    jobs,
    kie,
    send,
    downloads,
    clock,
    logger,
    pollIntervalMs: config.hdPollIntervalMs,
  });
  const images = new ImagePreparer({
    upload: (request) => kie.uploadFile(request),
    download,
    maxImageBytes: config.maxImageBytes,
    logger: logger.child({ component: 'images' }),
  });

  const commands = createCommands({
    config,
    jobs,
    runner,
    quota,
    kie,
    hd,
    images,
    guildSettings,
    clock,
    logger,
    isGuildCached: (guildId) => client.guilds.cache.has(guildId),
  });
  // Single writer (DESIGN §8): taken before login, so a waiting process neither takes interactions nor resumes jobs.
  const lease = new LeaseService({
    store: stores.leases,
    atomic: stores.atomicLeases,
    clock,
    logger,
    shard: place.id,
    ttlMs: config.leaseTtlMs,
    onLost: () => (overrides.onLeaseLost ?? (() => void bot.stop()))(),
  });
  const detachEvents = registerEvents(client, [
    createInteractionCreateEvent(commands, logger),
    createReadyEvent({
      logger,
      lease,
      jobs,
      quota,
      runner,
      hd,
      // Other shards' ledgers are theirs to settle (and may be in use right now).
      ownsGuild: (guildId) => ownsGuild(place, guildId),
      startedAt,
    }),
  ]);

  // Answers within STORE_TIMEOUT_MS, so /healthz says 503 instead of hanging while the store does.
  const storeUp = () => stores.healthy();
  const onCallback = async ({ taskId, jobId }: CallbackHint): Promise<string> => {
    // A standby process answers 200 but leaves the job to the lease holder (polling covers it anyway).
    if (!lease.held || stopped) return 'standby';
    return callbacks.onCallback(taskId, jobId);
  };
  // One process serves HTTP itself; a shard leaves it to its manager, which asks over IPC (DESIGN §7).
  const http =
    config.shard === null
      ? new HttpServer({
          port: config.httpPort,
          clock,
          logger: logger.child({ component: 'http' }),
          hmacKey: config.kieWebhookHmacKey,
          healthy: storeUp,
          ready: gatewayReady,
          metrics,
          onCallback,
        })
      : null;
  const stopAnswering =
    config.shard === null
      ? () => undefined
      : answerManager(
          overrides.managerPort ?? processPort(),
          {
            callback: onCallback,
            probe: async () => ({
              store: await storeUp().catch(() => false),
              ready: gatewayReady(),
              lease: lease.held,
            }),
            metrics: () => metrics.json(),
          },
          logger,
        );

  const starting = new AbortController();
  let stopped = false;
  const bot: Bot = {
    client,
    jobs,
    runner,
    quota,
    kie,
    logger,
    lease,
    get httpPort() {
      return http?.port ?? null;
    },
    async start() {
      await stores.ready;
      await http?.listen();
      try {
        await lease.acquire(starting.signal);
      } catch (error) {
        if (stopped) return;
        throw error;
      }
      if (stopped) return;
      // A single process after a sharded run: its jobs are still filed under the shards' indexes.
      if (config.shard === null) await adoptShardLayout(stores.jobs, 1, clock, logger);
      await client.login(config.discordToken);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      starting.abort();
      detachEvents();
      // Running steps get a moment to write their state; anything still running is resumed by the next process.
      const work = Promise.allSettled([runner.stop(), hd.stop()]);
      let grace: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        work.then(() => true),
        new Promise<false>((resolve) => (grace = setTimeout(() => resolve(false), STOP_WORK_GRACE_MS))),
      ]);
      clearTimeout(grace);
      if (!finished)
        logger.warn({ graceMs: STOP_WORK_GRACE_MS }, 'stopping with work still running; the next start resumes it');
      limiter.stop();
      kie.close();
      await client.destroy();
      await http?.close();
      stopAnswering();
      await lease.release().catch((error: unknown) => logger.warn({ err: error }, 'could not release the store lease'));
      lease.stop();
      await stores.close();
      logger.info({}, 'stopped');
    },
  };
  return bot;
}
