import { Client, GatewayIntentBits, Routes, Status } from 'discord.js';
import { Agent } from 'undici';
import { createCommands } from './commands/index.js';
import { secretsOf, type Config } from './config.js';
import { createInteractionCreateEvent } from './events/interactionCreate.js';
import { registerEvents } from './events/index.js';
import { createReadyEvent } from './events/ready.js';
import { guildsAndThreadsCache } from './lib/clientCache.js';
import { systemClock, type Clock } from './lib/clock.js';
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
import { UpgradeService, type UpgradeKind } from './services/delivery/hd.js';
import { hdUpgrade, uhdUpgrade } from './services/delivery/upgradeKinds.js';
import { JobMirror } from './services/delivery/mirror.js';
import { MemberDefaultsStore } from './services/members/defaults.js';
import { MediaFetchGuard } from './services/runtime/fetchGuard.js';
import { MediaFolder, mediaRootFor } from './services/runtime/mediaFolder.js';
import { CallbackServer, type CallbackHint } from './services/runtime/http.js';
import { shardOfGuild } from './lib/shard.js';
import { OpsServer } from './services/runtime/ops.js';
import { RedisBus } from './services/runtime/bus.js';
import { recommendedShardCount, settleShardLayout, ShardLeases, ShardPlan } from './services/runtime/shards.js';
import { BotMetrics } from './services/runtime/metrics.js';
import { ImagePreparer } from './services/kie/images.js';
import { JobRunner } from './services/jobs/runner.js';
import { StatusEdits } from './services/jobs/statusEdits.js';
import { JobSteps } from './services/jobs/steps.js';
import { JobStore, type JobObserver } from './services/jobs/store.js';
import { scopeOf } from './services/jobs/record.js';
import { KieClient } from './services/kie/client.js';
import { QuotaService } from './services/quota/service.js';
import { CachedBalance, CreditBudget } from './services/quota/credits.js';
import { UserDailyUnits } from './services/quota/daily.js';
import { sharedLedgerOn } from './services/quota/sharedRedis.js';
import { Operators } from './commands/veoAdmin/operators.js';
import { openStores, type Stores } from './services/runtime/store.js';
import { withDeadline } from './lib/deadline.js';

export interface BotOverrides {
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Another process took the store lease: the default stops this bot (main() also exits). */
  readonly onLeaseLost?: () => void;
  /** Node process metrics on /metrics (default true). */
  readonly processMetrics?: boolean;
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
  /** The leases of this process's shards (DESIGN §8). */
  readonly leases: ShardLeases;
  /** Which shards this process runs (resolved by start when SHARD_COUNT is auto). */
  readonly shards: ShardPlan;
  /** The public listener's port (POST /kie/callback), once started (HTTP_PORT 0 picks one). */
  readonly httpPort: number | null;
  /** The operator's listener's port (/healthz, /readyz, /metrics), once started. */
  readonly opsPort: number | null;
  /** Takes its shards' leases (waiting while another process holds one), then logs in. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The composition root: the only place services are built and wired (tests call it too). */
export function buildBot(config: Config, overrides: BotOverrides = {}): Bot {
  const clock = overrides.clock ?? systemClock;
  const startedAt = clock.now();
  // This process owns the guilds of its shards ((guild_id >> 22) % count) and, with shard 0, the DMs (DESIGN §8).
  const shards = new ShardPlan({ count: config.shardCount, ids: config.shardIds });
  const logger = overrides.logger ?? createLogger(config.logLevel, secretsOf(config));
  const opened = openStores(config.store, { timeoutMs: config.storeTimeoutMs });
  const stores = overrides.wrapStores ? overrides.wrapStores(opened) : opened;
  // Shared by every process on one Redis, and only these: the generate limiter, callbacks, IDENTIFY.
  const bus =
    stores.connectBus &&
    new RedisBus({
      connect: stores.connectBus,
      prefix: config.store.kind === 'redis' ? config.store.prefix : '',
      timeoutMs: config.storeTimeoutMs,
      logger: logger.child({ component: 'bus' }),
    });
  // The one outbound pool (DESIGN §2): the kie client and every media fetch share it, and stop closes it.
  const agent = new Agent();
  const metrics = new BotMetrics({
    gatewayReady: () => gatewayReady(),
    leaseHeld: () => leases.held,
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
  const observeJob: JobObserver = (previous, next) => {
    metrics.jobChanged(previous, next);
    mirror.observe(previous, next);
  };
  const jobs = new JobStore(stores.jobs, clock, observeJob, () => shards.set);
  // kie's limit is per account, whichever process asks (one window on Redis). The window is widened by
  // 5%: kie counts arrivals, and network jitter can bunch two requests that left a full window apart
  // (the benchmark saw 21 arrivals in 10 s without it).
  const generateRate = { limit: config.generateRate.limit, windowMs: Math.ceil(config.generateRate.windowMs * 1.05) };
  const sharedLimiter = bus?.generateLimiter(generateRate, config.kieApiKey);
  const limiter = sharedLimiter ?? new GenerateLimiter({ ...generateRate, clock, logger });

  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    // Replaced by the resolved set at start; explicit so discord.js never reads SHARDS / SHARD_COUNT itself.
    shards: [0],
    shardCount: 1,
    makeCache: guildsAndThreadsCache(),
    waitGuildTimeout: 2_000,
    rest: { api: config.discordApiBaseUrl, timeout: 120_000, rejectOnRateLimit: isUnpacedRateLimit },
    allowedMentions: { parse: [] },
    // In one process discord.js's own throttle honours max_concurrency; across processes the lock is on Redis.
    ...(bus && {
      ws: {
        buildIdentifyThrottler: async (manager) =>
          bus.identifyThrottler((await manager.fetchGatewayInformation()).session_start_limit.max_concurrency),
      },
    }),
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
  const mirror = new JobMirror({ rest, settings: guildSettings, store: stores.guilds, clock, logger });
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
  const { publicBaseUrl } = config;
  const callbackUrl = publicBaseUrl ? (jobId: string) => `${publicBaseUrl}/kie/callback?job=${jobId}` : undefined;
  const durations = new RecentDurations();
  const retryBaseMs = overrides.stepRetryBaseMs;
  const steps = new JobSteps(logger, retryBaseMs === undefined ? {} : { retryBaseMs });
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
    options: { pollIntervalMs: config.pollIntervalMs, callbackUrl },
  });
  const upgrade = (kind: UpgradeKind) => new UpgradeService({ kind, jobs, send, downloads, clock, logger });
  const hd = upgrade(hdUpgrade(kie, config.hdPollIntervalMs, credits));
  const uhd = upgrade(uhdUpgrade(kie, config.uhdPollIntervalMs, quota, callbackUrl));
  const callbacks = new KieCallbacks({
    jobs,
    kie,
    reader: runner,
    clock,
    logger,
    callbackUrl,
    onOutcome: (outcome) => metrics.callback(outcome),
    uhd,
    route: {
      // A standby (waiting for a lease) leaves the job to the holder; polling covers it anyway.
      here: (guildId) => leases.held && !stopped && shards.owns(guildId),
      forward: bus && ((guildId, hint) => bus.forwardCallback(shardOfGuild(guildId, shards.set.count), hint)),
    },
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
    uhd,
    images,
    guildSettings,
    memberDefaults: new MemberDefaultsStore(stores.members, logger),
    mirror,
    clock,
    logger,
    isGuildCached: (guildId) => client.guilds.cache.has(guildId),
    mayLinkMedia: (url) => guard.mayLink(url),
  });
  // Single writer (DESIGN §8): taken before login, so a waiting process neither takes interactions nor resumes jobs.
  const leases = new ShardLeases({
    store: stores.leases,
    atomic: stores.atomicLeases,
    clock,
    logger,
    ttlMs: config.leaseTtlMs,
    onLost: () => (overrides.onLeaseLost ?? (() => void bot.stop()))(),
  });
  const detachEvents = registerEvents(client, [
    createInteractionCreateEvent(commands, logger),
    createReadyEvent({
      logger,
      lease: leases,
      jobs,
      quota,
      credits,
      runner,
      upgrades: [hd, uhd],
      // Other processes' ledgers are theirs to settle (and may be in use right now).
      ownsGuild: (guildId) => shards.owns(guildId),
      startedAt,
    }),
  ]);

  // Every process serves both listeners: kie may call back any of them (DESIGN §7, §8).
  const http = new CallbackServer({
    port: config.httpPort,
    host: config.httpHost,
    clock,
    logger: logger.child({ component: 'http' }),
    hmacKey: config.kieWebhookHmacKey,
    onCallback: ({ taskId, jobId }: CallbackHint) => callbacks.onCallback(taskId, jobId),
    count: (outcome) => metrics.publicRequest(outcome),
  });
  const ops = new OpsServer({
    port: config.opsHttpPort,
    host: config.opsHttpHost,
    logger: logger.child({ component: 'ops' }),
    // Answers within STORE_TIMEOUT_MS, so /healthz says 503 instead of hanging while the store does.
    healthy: () => stores.healthy(),
    ready: gatewayReady,
    metrics: () => metrics.scrape(),
  });
  if (config.publicBaseUrl !== undefined && config.kieWebhookHmacKey === undefined) {
    logger.warn(
      {},
      'ALLOW_UNSIGNED_CALLBACKS: kie callbacks are not signed; anyone can send them (each only causes a read)',
    );
  }

  const starting = new AbortController();
  let stopped = false;
  const bot: Bot = {
    client,
    jobs,
    runner,
    quota,
    kie,
    logger,
    leases,
    shards,
    get httpPort() {
      return http.port;
    },
    get opsPort() {
      return ops.port;
    },
    async start() {
      await Promise.all([stores.ready, downloads.open()]);
      // Before anything asks Discord: `auto` is settled by our own GET /gateway/bot through client.rest.
      client.rest.setToken(config.discordToken);
      const set = await shards.resolve(() => recommendedShardCount(client.rest));
      client.options.shards = [...set.ids];
      client.options.shardCount = set.count;
      logger.info({ shards: shards.describe() }, 'shards resolved');
      await bus?.open();
      await sharedLimiter?.start();
      await http.listen();
      await ops.listen();
      try {
        await leases.acquire(set.ids, starting.signal);
        await settleShardLayout(set, { store: stores.jobs, clock, logger, leases }, starting.signal);
      } catch (error) {
        if (stopped) return;
        await leases.release().catch(() => undefined);
        throw error;
      }
      if (stopped) return;
      await bus?.onCallbacks(set.ids, (hint) => void callbacks.onCallback(hint.taskId, hint.jobId, 'bus'));
      // From here on every write passes the metrics; this is the one read of what was moving before.
      metrics.seedJobs(await jobs.active());
      // Before login, so it is settled before the first interaction (and never asked again).
      await operators.load(() => client.rest.get(Routes.currentApplication()));
      await client.login(config.discordToken);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      starting.abort();
      detachEvents();
      // Running steps get a moment to write their state; anything still running is resumed by the next process.
      const work = Promise.allSettled([runner.stop(), hd.stop(), uhd.stop(), mirror.idle()]);
      const finished = await withDeadline(work, STOP_WORK_GRACE_MS).then(
        () => true,
        () => false,
      );
      if (!finished)
        logger.warn({ graceMs: STOP_WORK_GRACE_MS }, 'stopping with work still running; the next start resumes it');
      await limiter.stop();
      kie.close();
      await client.destroy();
      await http.close();
      await ops.close();
      await agent.close();
      await leases
        .release()
        .catch((error: unknown) => logger.warn({ err: error }, 'could not release the store leases'));
      leases.stop();
      await bus?.close();
      await Promise.all([downloads.close(), stores.close()]);
      logger.info({}, 'stopped');
    },
  };
  return bot;
}
