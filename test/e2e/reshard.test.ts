import { afterEach, describe, expect, it } from 'vitest';
import { shardOfGuild } from '../../src/lib/shard.js';
import { CrashRig, RESHARD_ENTRY, type ChildBot, type ChildLog } from './helpers/childBot.js';
import { guildsOnShards } from './helpers/guilds.js';
import type { GuildFixture } from './helpers/loopbackDiscord.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const STRING = 3;
const delivered = (jobId: string) => (l: ChildLog) =>
  l.msg === 'job transition' && l.jobId === jobId && l.to === 'delivered';

/** `npm start` alone and `npm run reshard`, on the compiled bot (DESIGN §8). */
describe('internal sharding and resharding (compiled child processes)', () => {
  let rig: CrashRig | undefined;
  let cleanup: (() => Promise<void>) | undefined;

  afterEach(async () => {
    const violations = rig ? [...rig.discord.violations] : [];
    await rig?.close();
    await cleanup?.();
    rig = undefined;
    cleanup = undefined;
    expect(violations).toEqual([]);
  });

  let users = 0;
  async function prompt(owner: ChildBot, guild: GuildFixture, text: string): Promise<string> {
    const handle = await rig!.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      guildId: guild.id,
      userId: String(890_000_000_000_000_000n + BigInt(users++)),
      options: [{ name: 'prompt', type: STRING, value: text }],
    });
    return String(
      (await owner.waitForLog((l) => l.msg === 'job accepted' && l.interactionId === handle.interactionId)).jobId,
    );
  }

  it('GIVEN npm start on SQLite and Discord recommending 4 shards THEN one process IDENTIFYs all four and serves a server on each', async () => {
    const guilds = guildsOnShards(4, 1);
    rig = await CrashRig.start({ discord: { shards: 4, maxConcurrency: 4, guilds } });
    const bot = await rig.spawnReady();
    expect(bot.logs.find((l) => l.msg === 'shards resolved')?.shards).toBe('0-3 of 4');
    expect(rig.discord.requests.filter((r) => r.path === '/gateway/bot').length).toBeGreaterThanOrEqual(1);
    expect(rig.discord.identifies.map((i) => [i.shard, i.count]).sort()).toEqual([
      [0, 4],
      [1, 4],
      [2, 4],
      [3, 4],
    ]);
    expect(rig.children).toHaveLength(1);
    for (const guild of guilds) {
      const jobId = await prompt(bot, guild, `a server of shard ${String(shardOfGuild(guild.id, 4))}`);
      await bot.waitForLog(delivered(jobId));
      expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
    }
  });

  it('GIVEN jobs in flight on two processes of 4 shards WHEN they stop, npm run reshard moves to 8 and two processes of 8 start THEN every job is delivered once, by its new owner', async () => {
    const url = await redisUrl();
    const prefix = uniquePrefix();
    cleanup = async () => {
      await deletePrefix(url, prefix);
    };
    // One server on each shard of 8; under 4 shards, server k is on shard k % 4.
    const guilds = guildsOnShards(8, 1);
    rig = await CrashRig.start({
      discord: { shards: 4, maxConcurrency: 4, guilds },
      env: { STORE_URL: url, STORE_KEY_PREFIX: prefix },
    });
    rig.kie.autoComplete = null;
    const low = rig.spawn({ SHARD_COUNT: '4', SHARD_IDS: '0-1' });
    const high = rig.spawn({ SHARD_COUNT: '4', SHARD_IDS: '2-3' });
    await Promise.all([low.waitForMessage('jobs resumed', 30_000), high.waitForMessage('jobs resumed', 30_000)]);
    const jobs: { jobId: string; guild: GuildFixture }[] = [];
    for (const guild of guilds) {
      const owner = shardOfGuild(guild.id, 4) < 2 ? low : high;
      jobs.push({ jobId: await prompt(owner, guild, `in flight ${guild.name}`), guild });
    }
    for (const { jobId } of jobs) {
      for (let i = 0; i < 400 && !(await rig.readStore(jobId)).job?.taskId; i++)
        await new Promise((r) => setTimeout(r, 25));
    }
    // One stops cleanly, the other dies: no process runs.
    expect((await low.kill('SIGTERM')).code).toBe(0);
    await high.kill('SIGKILL');

    rig.discord.recommendShards(8, 8);
    // Started before the reshard, a process of the new count refuses: the indexes are filed for 4.
    const early = rig.spawn({ SHARD_COUNT: '8', SHARD_IDS: '4-7' });
    expect((await early.exited).code).toBe(1);
    expect(early.stderr).toMatch(/filed for 4 shards.*npm run reshard/);

    const reshard = rig.spawn({ SHARD_COUNT: '8' }, RESHARD_ENTRY);
    expect((await reshard.exited).code).toBe(0);
    expect(reshard.logs.find((l) => l.msg === 'job indexes re-filed for a new shard count')).toMatchObject({
      from: 4,
      to: 8,
      active: 8,
    });

    for (const { jobId } of jobs) rig.kie.completeTask((await rig.readStore(jobId)).job!.taskId!);
    const first = rig.spawn({ SHARD_COUNT: '8', SHARD_IDS: '0-3' });
    const second = rig.spawn({ SHARD_COUNT: '8', SHARD_IDS: '4-7' });
    for (const { jobId, guild } of jobs) {
      const [owner, other] = shardOfGuild(guild.id, 8) < 4 ? [first, second] : [second, first];
      await owner.waitForLog(delivered(jobId), 30_000);
      expect(other.logs.filter((l) => l.jobId === jobId && l.msg === 'job transition')).toEqual([]);
    }
    for (const { jobId } of jobs) expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
    expect(rig.kie.generateRequests()).toHaveLength(jobs.length);
    expect(new Set(rig.discord.identifies.filter((i) => i.count === 8).map((i) => i.shard)).size).toBe(8);
  });
});
