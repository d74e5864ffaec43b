/**
 * `npm run reshard`: re-files the job indexes for a new SHARD_COUNT while no process of the bot runs
 * (DESIGN §8), so every job in flight is resumed by the process that owns its server under the new count.
 * Stop every process, run this once with the new SHARD_COUNT, start them with their new SHARD_IDS.
 */
import { REST } from 'discord.js';
import { loadConfigOrExit, secretsOf } from './config.js';
import { systemClock } from './lib/clock.js';
import { createLogger } from './logger.js';
import { recommendedShardCount, reshard, ReshardRefusedError, ShardLeases } from './services/runtime/shards.js';
import { openStores } from './services/runtime/store.js';

async function main(): Promise<number> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel, secretsOf(config));
  let count = config.shardCount;
  if (count === 'auto') {
    const rest = new REST({ api: config.discordApiBaseUrl }).setToken(config.discordToken);
    count = await recommendedShardCount(rest);
  }
  const stores = openStores(config.store, { timeoutMs: config.storeTimeoutMs });
  const leases = new ShardLeases({
    store: stores.leases,
    atomic: stores.atomicLeases,
    clock: systemClock,
    logger,
    ttlMs: config.leaseTtlMs,
  });
  try {
    await stores.ready;
    const change = await reshard(count, { store: stores.jobs, clock: systemClock, logger, leases });
    console.log(
      change
        ? `Re-filed ${String(change.active)} active jobs and ${String(change.hd)} 1080P preparations from ${String(change.from)} to ${String(change.to)} shards.`
        : `The job indexes are already filed for ${String(count)} shards; nothing to do.`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof ReshardRefusedError)) throw error;
    console.error(`Veo Bot cannot reshard: ${error.message}`);
    return 1;
  } finally {
    leases.stop();
    await stores.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : 'reshard failed');
    process.exit(1);
  },
);
