import { Client, GatewayIntentBits, Routes, Status } from 'discord.js';
import { Agent } from 'undici';
import { createCommands } from './commands/index.js';
import { secretsOf, type Config } from './config.js';
import { createInteractionCreateEvent } from './events/interactionCreate.js';
import { registerEvents } from './events/index.js';
import { createReadyEvent } from './events/ready.js';
import { guildsAndThreadsCache } from './lib/clientCache.js';
import { systemClock, type Clock } from './lib/clock.js';
import { ownsGuild, SINGLE_SHARD } from './lib/shard.js';
import { createLogger, type Logger } from './logger.js';
import { KeptDownloads } from './services/delivery/keptDownloads.js';
import { uploadLimitForTier } from './services/delivery/limits.js';
import { DiscordRest, isUnpacedRateLimit } from './services/delivery/rest.js';
import { KieCallbacks } from './services/jobs/callbacks.js';
import { SendLadder } from './services/delivery/send.js';
import { DeliveryService } from './services/delivery/video.js';
import { RecentDurations } from './services/jobs/durations.js';
import { GenerateLimiter } from './services/jobs/limiter.js';
import { GuildSettingsStore } from './services/quota/guildSettings.js';
import { HdService } from './services/delivery/hd.js';
import { MediaFetchGuard } from './services/runtime/fetchGuard.js';
import { MediaFolder, mediaRootFor } from './services/runtime/mediaFolder.js';
import { CallbackServer, type CallbackHint } from './services/runtime/http.js';
import { OpsServer } from './services/runtime/ops.js';
import { LeaseService } from './services/runtime/lease.js';
import { BotMetrics } from './services/runtime/metrics.js';
import { ImagePreparer } from './services/kie/images.js';
import { adoptShardLayout } from './services/jobs/layout.js';
import { JobRunner } from './services/jobs/runner.js';
import { StatusEdits } from './services/jobs/statusEdits.js';
import { JobSteps } from './services/jobs/steps.js';
import { JobStore } from './services/jobs/store.js';
import { scopeOf } from './services/jobs/record.js';
import { KieClient } from './services/kie/client.js';
import { QuotaService } from './services/quota/service.js';
import { CachedBalance, CreditBudget } from './services/quota/credits.js';
import { UserDailyUnits } from './services/quota/daily.js';
import { sharedLedgerOn } from './services/quota/sharedRedis.js';
import { Operators } from './commands/veoAdmin/operators.js';
import { answerManager, processPort, type IpcPort } from './services/runtime/shardLink.js';
import { openStores, type Stores } from './services/runtime/store.js';
import { withDeadline } from './lib/deadline.js';

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

/** Operators see the kie balance as read at most this long ago (never a kie call per `/veo-admin status`). */
const BALANCE_MAX_AGE_MS = 5 * 60_000;

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
   * The public listener's port (POST /kie/callback), once started (HTTP_PORT 0 picks one); always null in
   * a shard, whose manager serves it.
   */
  readonly httpPort: number | null;
  /** The operator's listener's port (/healthz, /readyz, /metrics); null in a shard, like httpPort. */
  readonly opsPort: number | null;
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
  // The one outbound pool (DESIGN §2): the kie client and every media fetch share it, and stop closes it.
  const agent = new Agent();
  const metrics = new BotMetrics({
    gatewayReady: () => gatewayReady(),
    leaseHeld: () => lease.held,
    processMetrics: overrides.processMetrics ?? true,
  });

  const kie = new KieClient({
    apiBaseUrl: config.kieApiBaseUrl,
    uploadBaseUrl: config.kieUploadBaseUrl,
    apiKey: config.kieApiKey,
    dispatcher: agent,
    clock,
    logger: logger.child({ component: 'kie' }),
    onRequest: ({ path, code }) => metrics.kieRequest(path, code),
  });
  const guildSettings = new GuildSettingsStore(stores.guilds, logger);
  // Both ledgers span every server, so every process of the bot shares them (on Redis, atomically).
  const credits = new CreditBudget({
    ledger: sharedLedgerOn(stores, 'credits', logger),
    budget: config.credits.dailyBudget,
    prices: config.credits.prices,
    clock,
    logger,
  });
  const daily =
    config.userDailyUnits === null
      ? null
      : new UserDailyUnits(sharedLedgerOn(stores, 'daily', logger), config.userDailyUnits, clock);
  const quota = new QuotaService({
    store: stores.quota,
    clock,
    defaults: config.quota,
    settings: (guildId) => guildSettings.get(guildId),
    daily,
    credits,
    logger,
  });
  const operators = new Operators(config.operatorIds, logger);
  const balance = new CachedBalance(() => kie.credits(), clock, BALANCE_MAX_AGE_MS, logger);
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
    makeCache: guildsAndThreadsCache(),
    waitGuildTimeout: 2_000,
    rest: { api: config.discordApiBaseUrl, timeout: 120_000, rejectOnRateLimit: isUnpacedRateLimit },
    allowedMentions: { parse: [] },
  });
  const gatewayReady = () =>
    client.isReady() && client.ws.shards.size > 0 && client.ws.shards.every((shard) => shard.status === Status.Ready);
  metrics.observeAcks(client.rest, clock);
  const rest = new DiscordRest(client.rest, config.applicationId);
  const guildUploadLimit = (guildId: string) => uploadLimitForTier(client.guilds.cache.get(guildId)?.premiumTier ?? 0);
  const guard = new MediaFetchGuard({
    dispatcher: agent,
    trustedOrigins: new Set(config.trustedMediaOrigins),
    maxBytes: { video: config.maxVideoBytes, image: config.maxImageBytes },
  });
  const send = new SendLadder({ rest, clock, logger, guildUploadLimit });
  const downloads = new KeptDownloads({
    download: (url, cap, file) => guard.download(url, 'video', cap, file),
    folder: new MediaFolder({ root: mediaRootFor(config.store), logger }),
    clock,
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
  const callbackUrl = config.publicBaseUrl
    ? (jobId: string) => `${config.publicBaseUrl ?? ''}/kie/callback?job=${jobId}`
    : undefined;
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
      callbackUrl,
    },
  });
  const callbacks = new KieCallbacks({
    jobs,
    kie,
    reader: runner,
    clock,
    logger,
    callbackUrl,
    onOutcome: (outcome) => metrics.callback(outcome),
  });
  const hd = new HdService({
    jobs,
    kie,
    send,
    downloads,
    clock,
    logger,
    pollIntervalMs: config.hdPollIntervalMs,
    credits,
  });
  const images = new ImagePreparer({
    upload: (request) => kie.uploadFile(request),
    download: (url, cap) => guard.fetch(url, 'image', cap),
    maxImageBytes: config.maxImageBytes,
    logger: logger.child({ component: 'images' }),
  });

  const commands = createCommands({
    config,
    jobs,
    runner,
    quota,
    credits,
    operators,
    balance,
    kie,
    hd,
    images,
    guildSettings,
    clock,
    logger,
    isGuildCached: (guildId) => client.guilds.cache.has(guildId),
    mayLinkMedia: (url) => guard.mayLink(url),
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
      credits,
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
    if (!lease.held || stopped) {
      metrics.callback('standby');
      return 'standby';
    }
    return callbacks.onCallback(taskId, jobId);
  };
  // One process serves HTTP itself; a shard leaves it to its manager, which asks over IPC (DESIGN §7).
  const http =
    config.shard === null
      ? new CallbackServer({
          port: config.httpPort,
          host: config.httpHost,
          clock,
          logger: logger.child({ component: 'http' }),
          hmacKey: config.kieWebhookHmacKey,
          onCallback,
          count: (outcome) => metrics.publicRequest(outcome),
        })
      : null;
  const ops =
    config.shard === null
      ? new OpsServer({
          port: config.opsHttpPort,
          host: config.opsHttpHost,
          logger: logger.child({ component: 'ops' }),
          healthy: storeUp,
          ready: gatewayReady,
          metrics: () => metrics.scrape(),
        })
      : null;
  if (config.publicBaseUrl !== undefined && config.kieWebhookHmacKey === undefined) {
    logger.warn(
      {},
      'ALLOW_UNSIGNED_CALLBACKS: kie callbacks are not signed; anyone can send them (each only causes a read)',
    );
  }
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
    get opsPort() {
      return ops?.port ?? null;
    },
    async start() {
      await Promise.all([stores.ready, downloads.open()]);
      await http?.listen();
      await ops?.listen();
      try {
        await lease.acquire(starting.signal);
      } catch (error) {
        if (stopped) return;
        throw error;
      }
      if (stopped) return;
      // From here on every write passes the metrics; this is the one read of what was moving before.
      metrics.seedJobs(await jobs.active());
      // A single process after a sharded run: its jobs are still filed under the shards' indexes.
      if (config.shard === null) await adoptShardLayout(stores.jobs, 1, clock, logger);
      // Before login, so it is settled before the first interaction (and never asked again).
      client.rest.setToken(config.discordToken);
      await operators.load(() => client.rest.get(Routes.currentApplication()));
      await client.login(config.discordToken);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      starting.abort();
      detachEvents();
      // Running steps get a moment to write their state; anything still running is resumed by the next process.
      const finished = await withDeadline(Promise.allSettled([runner.stop(), hd.stop()]), STOP_WORK_GRACE_MS).then(
        () => true,
        () => false,
      );
      if (!finished)
        logger.warn({ graceMs: STOP_WORK_GRACE_MS }, 'stopping with work still running; the next start resumes it');
      limiter.stop();
      kie.close();
      await client.destroy();
      await http?.close();
      await ops?.close();
      await agent.close();
      stopAnswering();
      await lease.release().catch((error: unknown) => logger.warn({ err: error }, 'could not release the store lease'));
      lease.stop();
      await Promise.all([downloads.close(), stores.close()]);
      logger.info({}, 'stopped');
    },
  };
  return bot;
}
