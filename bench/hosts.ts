/**
 * Figures for issue 15 (several shards per process, several processes on one Redis): a process's memory
 * with 16 shards and 2,000 typical servers, and the generate calls kie sees when 4 processes share one
 * account. "Today" is the code before this issue (TODAY_COMMIT: one process per shard under discord.js's
 * ShardingManager, each shard limited to 1/N of the account), measured once on that commit with the same
 * loopbacks and recorded here, since that code no longer exists to run.
 */
import { startLoopbacks } from '../test/e2e/helpers/loopbacks.js';
import { guildsOnShards } from '../test/e2e/helpers/guilds.js';
import type { GuildFixture } from '../test/e2e/helpers/loopbackDiscord.js';
import { redisServerOnPath, startRedisServer, type RedisServer } from '../test/helpers/redisServer.js';
import { BotProcess } from './botProcess.js';

const MiB = 1024 * 1024;
const STRING = 3;
export const TODAY_COMMIT = 'b0c5d7b';

/** Measured on TODAY_COMMIT (see the module comment); medians of the runs named. */
export const TODAY = {
  /** npm run start:sharded, 16 shards: the manager and its 16 shard processes, summed (3 runs: 2215, 2295, 2346). */
  shardMemory: { processes: 17, rssMb: 2295.4, runs: 3 },
  /** The manager with 4 shard processes, KIE_GENERATE_RATE 20/10s split 1/4 each (5 runs, all alike). */
  oneProcess: { generateCalls: 35, maxGeneratePer10s: 5, sustainedPer10s: 5, runs: 5 },
  /** Runs: 140, 140, 140, 132 and 108 calls; one of them had 21 in a sliding 10 s and 17.8 per 10 s. */
  spread: { generateCalls: 140, maxGeneratePer10s: 20, sustainedPer10s: 20, runs: 5 },
};

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** The median of each figure over `runs` runs of `once`. */
export async function medianOf(
  runs: number,
  once: () => Promise<Record<string, number>>,
): Promise<Record<string, number>> {
  const results: Record<string, number>[] = [];
  for (let i = 0; i < runs; i++) results.push(await once());
  const keys = Object.keys(results[0] ?? {});
  return { ...Object.fromEntries(keys.map((k) => [k, round(median(results.map((r) => r[k] ?? NaN)))])), runs };
}

/** One process, SHARD_COUNT=16 from the loopback's recommendation, 2,000 servers of 20 channels and 12 roles. */
export async function measureShardMemory(): Promise<Record<string, number>> {
  const guilds = guildsOnShards(16, 125);
  const loopbacks = await startLoopbacks({
    dirPrefix: 'veo-bench-shards-',
    discord: { shards: 16, maxConcurrency: 16, guilds, guildProfile: { channels: 20, roles: 12 } },
  });
  let bot: BotProcess | null = null;
  try {
    bot = await BotProcess.start({ ...loopbacks.env });
    const ready = await bot.waitForLog((l) => l.msg === 'connected to Discord', 60_000);
    await new Promise((r) => setTimeout(r, 3_000));
    const live = await bot.stats({ gc: true });
    const kernel = bot.memory();
    return {
      shards: new Set(loopbacks.discord.identifies.map((i) => i.shard)).size,
      guilds: Number(ready.guilds),
      rssMb: round(kernel.rss / MiB),
      peakRssMb: round(kernel.peak / MiB),
      heapUsedAfterGcMb: round(live.heapUsed / MiB),
    };
  } finally {
    await bot?.stop();
    await loopbacks.close();
  }
}

async function redisForBench(): Promise<{ url: string; server: RedisServer | null }> {
  const given = process.env.TEST_REDIS_URL?.trim();
  if (given) return { url: given, server: null };
  const binary = redisServerOnPath();
  if (binary === null) throw new Error('the multi-process figures need redis-server on PATH or TEST_REDIS_URL');
  const server = await startRedisServer(binary);
  return { url: server.url, server };
}

/** The most calls in any sliding `windowMs`, and the calls in the first 60 s after the first, per 10 s. */
export function generateFigures(times: readonly number[], windowMs = 10_000): Record<string, number> {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && (sorted[j] ?? Infinity) - (sorted[i] ?? 0) < windowMs) j++;
    max = Math.max(max, j - i);
  }
  const first = sorted[0] ?? 0;
  const inMinute = sorted.filter((t) => t - first < 60_000).length;
  return { generateCalls: sorted.length, maxGeneratePer10s: max, sustainedPer10s: round(inMinute / 6) };
}

/**
 * Four processes (SHARD_COUNT=4, SHARD_IDS=0 … 3) on one Redis and one kie account at the default
 * 20/10s; 150 prompts at 150/s into one server (all to the process of shard 0), or spread over a server
 * on each shard; kie's generate calls over the next 65 s.
 */
export async function measureSharedLimiter(spread: boolean): Promise<Record<string, number>> {
  const redis = await redisForBench();
  const guilds = guildsOnShards(4, 1);
  const loopbacks = await startLoopbacks({
    dirPrefix: 'veo-bench-hosts-',
    discord: { shards: 4, maxConcurrency: 4, guilds },
  });
  loopbacks.kie.autoComplete = null;
  const bots: BotProcess[] = [];
  try {
    const env = {
      ...loopbacks.env,
      STORE_URL: redis.url,
      STORE_KEY_PREFIX: `bench-${String(Date.now())}`,
      SHARD_COUNT: '4',
      QUOTA_LIMIT: '1000000',
      SERVER_MAX_ALLOWANCE: '1000000',
      MAX_ACTIVE_JOBS_PER_USER: '1000',
      SERVER_MAX_ACTIVE_JOBS: '1000',
    };
    for (const id of [0, 1, 2, 3]) bots.push(await BotProcess.start({ ...env, SHARD_IDS: String(id) }));
    await Promise.all(bots.map((bot) => bot.waitForLog((l) => l.msg === 'jobs resumed', 30_000)));
    const started = performance.now();
    for (let i = 0; i < 150; i++) {
      const guild: GuildFixture = spread ? guilds[i % 4]! : guilds[0]!;
      const due = started + (i * 1000) / 150;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      await loopbacks.discord.slashCommand({
        name: 'veo',
        subcommand: 'prompt',
        guildId: guild.id,
        userId: String(810_000_000_000_000_000n + BigInt(i)),
        options: [{ name: 'prompt', type: STRING, value: `hosts ${String(i)}` }],
      });
    }
    await new Promise((r) => setTimeout(r, 65_000 - (performance.now() - started)));
    const times = loopbacks.kie.generateRequests().map((r) => r.at);
    const byProcess = bots.map(
      (bot) => bot.logLines.filter((l) => l.msg === 'job transition' && l.to === 'submitting').length,
    );
    return { ...generateFigures(times), busiestProcessCalls: Math.max(...byProcess) };
  } finally {
    await Promise.all(bots.map((bot) => bot.stop()));
    await loopbacks.close();
    await redis.server?.stop();
  }
}
