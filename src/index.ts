import { pathToFileURL } from 'node:url';
import { Client, GatewayIntentBits } from 'discord.js';
import { createCommands } from './commands/index.js';
import { ConfigError, loadConfig, readEnvironment, type Config } from './config.js';
import { createInteractionCreateEvent } from './events/interactionCreate.js';
import { createReadyEvent } from './events/ready.js';
import { systemClock, type Clock } from './lib/clock.js';
import { downloadCapped } from './lib/download.js';
import { createLogger, type Logger } from './logger.js';
import { DeliveryService, uploadLimitForTier } from './services/delivery.js';
import { DiscordMessages } from './services/discordMessages.js';
import { GenerateLimiter } from './services/generateLimiter.js';
import { HdService } from './services/hd.js';
import { ImagePreparer } from './services/images.js';
import { isFinal } from './services/jobRecord.js';
import { JobRunner, JobStore, scopeOf } from './services/jobs.js';
import { KieClient } from './services/kie/client.js';
import { QuotaService } from './services/quota.js';
import { openStores } from './services/store.js';

export interface BotOverrides {
  readonly logger?: Logger;
  readonly clock?: Clock;
}

export interface Bot {
  readonly client: Client;
  readonly jobs: JobStore;
  readonly runner: JobRunner;
  readonly quota: QuotaService;
  readonly kie: KieClient;
  readonly logger: Logger;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The composition root: the only place services are built and wired (tests call it too). */
export function buildBot(config: Config, overrides: BotOverrides = {}): Bot {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? createLogger(config.logLevel, [config.discordToken, config.kieApiKey]);
  const stores = openStores(config.store);

  const kie = new KieClient({
    apiBaseUrl: config.kieApiBaseUrl,
    uploadBaseUrl: config.kieUploadBaseUrl,
    apiKey: config.kieApiKey,
    clock,
    logger: logger.child({ component: 'kie' }),
  });
  const quota = new QuotaService({ store: stores.quota, clock, defaults: config.quota, logger });
  const jobs = new JobStore(stores.jobs, clock);
  const limiter = new GenerateLimiter({ ...config.generateRate, clock, logger });

  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    waitGuildTimeout: 2_000,
    rest: { api: config.discordApiBaseUrl, timeout: 120_000 },
    allowedMentions: { parse: [] },
  });
  const messages = new DiscordMessages(client.rest, config.applicationId);
  const guildUploadLimit = (guildId: string) => uploadLimitForTier(client.guilds.cache.get(guildId)?.premiumTier ?? 0);
  const download = (url: string, cap: number) => downloadCapped(url, cap);

  const delivery = new DeliveryService({
    messages,
    download,
    jobs,
    clock,
    logger,
    concurrency: config.deliveryConcurrency,
    guildUploadLimit,
    unitsLeft: async (job) => {
      const status = await quota.status(scopeOf(job));
      return { remaining: status.remaining, limit: status.limit };
    },
  });
  const runner = new JobRunner({
    jobs,
    kie,
    quota,
    limiter,
    delivery,
    clock,
    logger,
    options: {
      pollIntervalMs: config.pollIntervalMs,
      callbackUrl: config.publicBaseUrl ? (jobId) => `${config.publicBaseUrl ?? ''}/kie/callback?job=${jobId}` : undefined,
    },
  });
  const hd = new HdService({
    jobs,
    kie,
    messages,
    download,
    clock,
    logger,
    pollIntervalMs: config.hdPollIntervalMs,
    guildUploadLimit,
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
    clock,
    logger,
    isGuildCached: (guildId) => client.guilds.cache.has(guildId),
  });
  const interactionCreate = createInteractionCreateEvent(commands, logger);
  const onInteraction = (...args: Parameters<typeof interactionCreate.execute>) => void interactionCreate.execute(...args);
  client.on(interactionCreate.name, onInteraction);

  const ready = createReadyEvent({
    logger,
    resume: async () => {
      const reconciled = await quota.reconcile(async (jobId) => {
        const job = await jobs.get(jobId);
        if (!job) return 'missing';
        if (!isFinal(job)) return 'active';
        return job.state === 'delivered' || job.state === 'undeliverable' ? 'delivered' : 'failed';
      });
      logger.info({ ...reconciled }, 'quota reconciled');
      await runner.resume();
      await hd.resume();
    },
  });
  client.once(ready.name, (c) => void ready.execute(c));

  let stopped = false;
  return {
    client,
    jobs,
    runner,
    quota,
    kie,
    logger,
    async start() {
      await stores.ready;
      await client.login(config.discordToken);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      client.off(interactionCreate.name, onInteraction);
      await runner.stop();
      await hd.stop();
      limiter.stop();
      kie.close();
      await client.destroy();
      await stores.close();
    },
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(readEnvironment());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const bot = buildBot(config);
  const shutdown = (signal: string) => {
    bot.logger.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), 10_000).unref();
    void bot.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  await bot.start();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : 'startup failed');
    process.exit(1);
  });
}
