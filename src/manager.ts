/**
 * `npm run start:sharded`: the sharding manager, a composition root of its own (like src/index.ts, and
 * the only other place services are built). It refuses a SQLite store, resolves SHARD_COUNT, re-files the
 * job indexes when the count changed, forks one process per shard on the compiled entry point
 * (dist/src/index.js, respawned when it dies), and serves both listeners: kie callbacks on the public one,
 * routed to the shard that owns the job, and /healthz, /readyz and /metrics for every shard on the
 * operator's (DESIGN §7, §8).
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Agent } from 'undici';
import { loadConfigOrExit, secretsOf, type Config } from './config.js';
import { systemClock } from './lib/clock.js';
import { createLogger, type Logger } from './logger.js';
import { recommendedShardCount } from './services/runtime/gatewayBot.js';
import { CallbackServer } from './services/runtime/http.js';
import { OpsServer } from './services/runtime/ops.js';
import { adoptShardLayout } from './services/jobs/layout.js';
import { JobStore } from './services/jobs/store.js';
import { ShardFleet } from './services/runtime/shardFleet.js';
import { openStores } from './services/runtime/store.js';

/** The shard entry point: the compiled bot beside this file. */
export const SHARD_ENTRY = fileURLToPath(new URL('./index.js', import.meta.url));

export class ShardingRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShardingRefusedError';
  }
}

export interface Manager {
  readonly fleet: ShardFleet;
  readonly logger: Logger;
  readonly httpPort: number | null;
  readonly opsPort: number | null;
  stop(): Promise<void>;
}

/** Builds and starts the manager: everything up to forking the shards. */
export async function startManager(
  config: Config,
  logger: Logger = createLogger(config.logLevel, secretsOf(config)),
): Promise<Manager> {
  if (config.store.kind !== 'redis') {
    throw new ShardingRefusedError(
      'npm run start:sharded needs a shared store: STORE_URL is SQLite, which serves exactly one process. ' +
        'Set STORE_URL=redis://host:6379 (see README, "Running on several shards"), or run one process with npm start.',
    );
  }
  const clock = systemClock;
  let totalShards = config.shardCount;
  if (totalShards === 'auto') {
    // The manager's only outbound call: its own pool, closed once answered.
    const agent = new Agent();
    try {
      totalShards = await recommendedShardCount({
        apiBaseUrl: config.discordApiBaseUrl,
        token: config.discordToken,
        dispatcher: agent,
      });
    } finally {
      await agent.close();
    }
  }
  logger.info({ shards: totalShards, requested: config.shardCount }, 'shard count resolved');

  const stores = openStores(config.store, { timeoutMs: config.storeTimeoutMs });
  await stores.ready;
  // No shard runs yet, so nothing else writes the indexes while they move.
  await adoptShardLayout(stores.jobs, totalShards, clock, logger);
  const jobs = new JobStore(stores.jobs, clock);

  const fleet = new ShardFleet({
    file: SHARD_ENTRY,
    token: config.discordToken,
    totalShards,
    spawnDelayMs: config.shardSpawnDelayMs,
    execArgv: ['--enable-source-maps'],
    jobs,
    storeUp: () => stores.healthy(),
    clock,
    logger,
  });
  const http = new CallbackServer({
    port: config.httpPort,
    host: config.httpHost,
    clock,
    logger: logger.child({ component: 'http' }),
    hmacKey: config.kieWebhookHmacKey,
    onCallback: (hint) => fleet.forwardCallback(hint),
  });
  const ops = new OpsServer({
    port: config.opsHttpPort,
    host: config.opsHttpHost,
    logger: logger.child({ component: 'ops' }),
    healthy: () => fleet.health(),
    ready: () => fleet.readiness(),
    metrics: () => fleet.metrics(),
  });
  await http.listen();
  await ops.listen();
  await fleet.spawn();

  let stopped = false;
  return {
    fleet,
    logger,
    get httpPort() {
      return http.port;
    },
    get opsPort() {
      return ops.port;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await http.close();
      await ops.close();
      await fleet.stop();
      await stores.close();
      logger.info({}, 'sharding manager stopped');
    },
  };
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel, secretsOf(config)).child({ role: 'manager' });
  let manager: Manager | null = null;
  let shuttingDown = false;
  const shutdown = (reason: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ reason }, 'shutting down');
    setTimeout(() => process.exit(1), 20_000).unref();
    (manager?.stop() ?? Promise.resolve())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  try {
    manager = await startManager(config, logger);
  } catch (error) {
    if (error instanceof ShardingRefusedError) {
      console.error(`Veo Bot cannot start sharded: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
  if (shuttingDown) await manager.stop();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : 'startup failed');
    process.exit(1);
  });
}
