import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CrashRig, type ChildBot, type ChildLog } from './helpers/childBot.js';
import { guildsOnShards } from './helpers/guilds.js';
import type { GuildFixture, InteractionHandle } from './helpers/loopbackDiscord.js';
import { isCallback } from './helpers/harness.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const HMAC_KEY = 'loopback-webhook-hmac-key';
const STRING = 3;

/**
 * Two "hosts" (DESIGN §8): the compiled bot twice, as child processes, `SHARD_COUNT=4` with
 * `SHARD_IDS=0-1` and `2-3`, on one real Redis, against a loopback Discord that recommends 4 shards,
 * allows 2 IDENTIFYs at once (max_concurrency 2) and has three servers on each shard. With callbacks on,
 * polling is every 10 minutes (KIE_POLL_INTERVAL_MS), so only a callback (or a resume's first read) moves a job.
 */
describe('two processes of four shards on one Redis (SHARD_IDS=0-1 and 2-3)', () => {
  let rig: CrashRig;
  let a: ChildBot;
  let b: ChildBot;
  let portA: number;
  let prefix: string;
  let url: string;
  const guilds = guildsOnShards(4, 3);
  const on = (shard: number, i = 0): GuildFixture => guilds[shard * 3 + i]!;
  let users = 0;

  beforeAll(async () => {
    url = await redisUrl();
    prefix = uniquePrefix();
    rig = await CrashRig.start({
      discord: { shards: 4, maxConcurrency: 2, guilds },
      env: {
        STORE_URL: url,
        STORE_KEY_PREFIX: prefix,
        SHARD_COUNT: '4',
        PUBLIC_BASE_URL: 'https://veo.example',
        KIE_WEBHOOK_HMAC_KEY: HMAC_KEY,
        KIE_POLL_INTERVAL_MS: '600000',
      },
    });
    rig.kie.autoComplete = null;
    a = rig.spawn({ SHARD_IDS: '0-1' });
    b = rig.spawn({ SHARD_IDS: '2-3' });
    portA = Number((await a.waitForMessage('http server listening')).port);
    await Promise.all([a.waitForMessage('jobs resumed', 30_000), b.waitForMessage('jobs resumed', 30_000)]);
  }, 60_000);

  afterAll(async () => {
    if (!rig) return;
    const violations = [...rig.discord.violations];
    await rig.close();
    await deletePrefix(url, prefix);
    expect(violations).toEqual([]);
  });

  async function prompt(
    owner: ChildBot,
    guild: GuildFixture,
    text: string,
  ): Promise<{ handle: InteractionHandle; jobId: string }> {
    const handle = await rig.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      guildId: guild.id,
      userId: String(880_000_000_000_000_000n + BigInt(users++)),
      options: [{ name: 'prompt', type: STRING, value: text }],
    });
    const accepted = await owner.waitForLog(
      (l) => l.msg === 'job accepted' && l.interactionId === handle.interactionId,
    );
    return { handle, jobId: String(accepted.jobId) };
  }

  async function taskOf(jobId: string): Promise<string> {
    for (let i = 0; i < 400; i++) {
      const { job } = await rig.readStore(jobId);
      if (job?.taskId) return job.taskId;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`job ${jobId} never got a task id`);
  }

  async function callback(port: number, taskId: string, jobId: string): Promise<number> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const response = await fetch(`http://127.0.0.1:${String(port)}/kie/callback?job=${jobId}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-webhook-timestamp': timestamp,
        'x-webhook-signature': createHmac('sha256', HMAC_KEY).update(`${taskId}.${timestamp}`).digest('base64'),
      },
      body: JSON.stringify({ code: 200, msg: 'ok', data: { taskId } }),
    });
    await response.text();
    return response.status;
  }

  const delivered = (jobId: string) => (l: ChildLog) =>
    l.msg === 'job transition' && l.jobId === jobId && l.to === 'delivered';
  const mentions = (child: ChildBot, jobId: string) => child.logs.filter((l) => l.jobId === jobId);

  it('GIVEN max_concurrency 2 THEN each process IDENTIFYs its own shards, and the IDENTIFYs of one bucket are at least 5 s apart across both', () => {
    expect(a.logs.find((l) => l.msg === 'shards resolved')?.shards).toBe('0-1 of 4');
    expect(b.logs.find((l) => l.msg === 'shards resolved')?.shards).toBe('2-3 of 4');
    const identifies = rig.discord.identifies;
    expect(identifies.map((i) => i.shard).sort()).toEqual([0, 1, 2, 3]);
    expect(identifies.every((i) => i.count === 4)).toBe(true);
    for (const bucket of [0, 1]) {
      const times = identifies.filter((i) => i.shard % 2 === bucket).map((i) => i.at);
      expect(times).toHaveLength(2);
      expect(Math.abs(times[1]! - times[0]!)).toBeGreaterThanOrEqual(5_000);
    }
    // Each shard's READY listed exactly its own three servers.
    const ready = rig.discord.requests.filter((r) => r.method === 'GATEWAY' && r.path === 'READY');
    for (const r of ready) {
      const body = r.body as { shard: [number, number]; guilds: { id: string }[] };
      expect(body.guilds.map((g) => g.id).sort()).toEqual(
        guilds
          .slice(body.shard[0] * 3, body.shard[0] * 3 + 3)
          .map((g) => g.id)
          .sort(),
      );
    }
    // One lease per shard, each taken by its process.
    const leases = (child: ChildBot) =>
      child.logs
        .filter((l) => l.msg === 'store lease acquired')
        .map((l) => String(l.lease))
        .sort();
    expect(leases(a)).toEqual(['leases:0', 'leases:1']);
    expect(leases(b)).toEqual(['leases:2', 'leases:3']);
  });

  it('GIVEN a prompt in a server of each shard THEN only its owner accepts and acknowledges it, once', async () => {
    const jobs = [];
    for (const shard of [0, 1, 2, 3]) {
      const owner = shard < 2 ? a : b;
      jobs.push({
        shard,
        owner,
        other: owner === a ? b : a,
        ...(await prompt(owner, on(shard, 1), `owner test ${shard}`)),
      });
    }
    for (const job of jobs) {
      expect(job.other.logs.some((l) => l.interactionId === job.handle.interactionId)).toBe(false);
      expect(mentions(job.other, job.jobId)).toEqual([]);
      expect(rig.discord.requests.filter((r) => isCallback(r, job.handle.interactionId))).toHaveLength(1);
      await taskOf(job.jobId);
    }
  });

  it('GIVEN a callback posted to process A for a job of process B THEN A hands it on and B reads kie and delivers it', async () => {
    const { jobId } = await prompt(b, on(3), 'a paper crane unfolding');
    const taskId = await taskOf(jobId);
    const reads = () =>
      rig.kie.requests.filter((r) => r.path === '/api/v1/veo/record-info' && r.query.taskId === taskId).length;
    const before = reads();
    rig.kie.completeTask(taskId);
    expect(await callback(portA, taskId, jobId)).toBe(200);
    expect(await a.waitForLog((l) => l.msg === 'kie callback handled' && l.taskId === taskId)).toMatchObject({
      outcome: 'forwarded',
    });
    expect(await b.waitForLog((l) => l.msg === 'kie callback handled' && l.taskId === taskId)).toMatchObject({
      outcome: 'read',
    });
    await b.waitForLog(delivered(jobId));
    expect(reads() - before).toBe(1);
    expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
    expect(a.logs.some((l) => l.jobId === jobId && l.msg === 'job transition')).toBe(false);
  });

  it('GIVEN B killed (SIGKILL) mid-job THEN A keeps delivering, a callback for B is left to polling, and B restarted delivers its job once', async () => {
    const ofB = await prompt(b, on(2), 'a kite over dunes');
    const ofA = await prompt(a, on(0), 'a lighthouse in a storm');
    const [taskB, taskA] = [await taskOf(ofB.jobId), await taskOf(ofA.jobId)];
    expect(await b.kill('SIGKILL')).toMatchObject({ signal: 'SIGKILL' });
    rig.kie.completeTask(taskB);
    rig.kie.completeTask(taskA);
    // Nobody listens for shards 2 and 3 now: A says so and leaves it (polling, or B's resume, covers it).
    expect(await callback(portA, taskB, ofB.jobId)).toBe(200);
    expect(await a.waitForLog((l) => l.msg === 'kie callback handled' && l.taskId === taskB)).toMatchObject({
      outcome: 'owner_down',
    });
    expect(await callback(portA, taskA, ofA.jobId)).toBe(200);
    await a.waitForLog(delivered(ofA.jobId));
    expect(rig.messagesWithVideo(ofA.jobId)).toHaveLength(1);

    const restarted = rig.spawn({ SHARD_IDS: '2-3' });
    await restarted.waitForMessage('jobs resumed', 30_000);
    await restarted.waitForLog(delivered(ofB.jobId));
    expect(rig.messagesWithVideo(ofB.jobId)).toHaveLength(1);
    expect(rig.discord.originalMessage(ofB.handle.token)?.attachments).toHaveLength(1);
    expect(rig.kie.generateRequests().filter((r) => r.taskId === taskB)).toHaveLength(1);
    expect((await rig.readStore(ofB.jobId)).job?.state).toBe('delivered');
    // A never stopped, never touched B's job, and never took B's shards.
    expect(a.logs.some((l) => l.msg === 'shutting down')).toBe(false);
    expect(a.logs.filter((l) => l.jobId === ofB.jobId && l.msg === 'job transition')).toEqual([]);
    expect(a.logs.filter((l) => l.msg === 'store lease acquired')).toHaveLength(2);
  });
});
