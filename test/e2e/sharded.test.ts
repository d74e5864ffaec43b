import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CrashRig, MANAGER_ENTRY, type ChildBot, type ChildLog } from './helpers/childBot.js';
import type { GuildFixture, InteractionHandle } from './helpers/loopbackDiscord.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const HMAC_KEY = 'loopback-webhook-hmac-key';
const DISCORD_EPOCH = 1_420_070_400_000n;

/** A guild whose id Discord routes to `shard` of 2: (id >> 22) % 2. */
function guildOnShard(shard: number, n: number): GuildFixture {
  let ms = BigInt(Date.now()) - DISCORD_EPOCH - 86_400_000n + BigInt(n) * 10n;
  if (ms % 2n !== BigInt(shard)) ms += 1n;
  const id = (ms << 22n) | 7n;
  return {
    id: id.toString(),
    name: `Shard ${String(shard)} Guild`,
    channelId: ((ms << 22n) | 8n).toString(),
    premiumTier: 0,
  };
}

/**
 * The compiled sharding manager (`npm run start:sharded`) as a child process, on a real Redis, with two
 * shards it resolves itself from the loopback's GET /gateway/bot (SHARD_COUNT=auto). Discord (loopback)
 * routes each guild to its shard; kie callbacks arrive at the manager's one HTTP listener.
 */
describe('two shards on Redis (ShardingManager, real child processes)', () => {
  let rig: CrashRig;
  let manager: ChildBot;
  let port: number;
  let opsPort: number;
  let prefix: string;
  let url: string;
  const guilds = [guildOnShard(0, 1), guildOnShard(1, 2)];
  const [guild0, guild1] = guilds as [GuildFixture, GuildFixture];

  beforeAll(async () => {
    url = await redisUrl();
    prefix = uniquePrefix();
    rig = await CrashRig.start({
      discord: { shards: 2, guilds },
      env: {
        STORE_URL: url,
        STORE_KEY_PREFIX: prefix,
        SHARD_COUNT: 'auto',
        SHARD_SPAWN_DELAY_MS: '0',
        PUBLIC_BASE_URL: 'https://veo.example',
        KIE_WEBHOOK_HMAC_KEY: HMAC_KEY,
        // With callbacks on, polling is a safety net every 6 intervals: an hour here, so only callbacks
        // (and a resume's first read) move a job, and what moved it is never in doubt.
        KIE_POLL_INTERVAL_MS: '600000',
      },
    });
    rig.kie.autoComplete = null;
    manager = rig.spawn({}, MANAGER_ENTRY);
    const listening = await manager.waitForLog((l) => l.msg === 'http server listening' && l.role === 'manager');
    port = Number(listening.port);
    const opsListening = await manager.waitForLog((l) => l.msg === 'ops server listening' && l.role === 'manager');
    opsPort = Number(opsListening.port);
    await Promise.all(
      [0, 1].map((shard) => manager.waitForLog((l) => l.msg === 'jobs resumed' && l.shard === shard, 20_000)),
    );
  });

  afterAll(async () => {
    // beforeAll failed (no Redis, say): that failure is the one to read.
    if (!rig) return;
    const violations = [...rig.discord.violations];
    if (manager) {
      const exit = await Promise.race([
        manager.kill('SIGTERM'),
        new Promise<null>((r) => setTimeout(() => r(null), 15_000)),
      ]);
      expect(exit?.code).toBe(0);
    }
    await rig.close();
    await deletePrefix(url, prefix);
    expect(violations).toEqual([]);
  });

  async function prompt(
    guild: GuildFixture,
    text: string,
  ): Promise<{ handle: InteractionHandle; jobId: string; shard: number }> {
    const handle = await rig.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      guildId: guild.id,
      options: [{ name: 'prompt', type: 3, value: text }],
    });
    const accepted = await manager.waitForLog(
      (l) => l.msg === 'job accepted' && l.interactionId === handle.interactionId,
    );
    return { handle, jobId: String(accepted.jobId), shard: Number(accepted.shard) };
  }

  async function taskOf(jobId: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const { job } = await rig.readStore(jobId);
      if (job?.taskId) return job.taskId;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`job ${jobId} never got a task id`);
  }

  async function callback(taskId: string, jobId: string): Promise<number> {
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

  it('GIVEN SHARD_COUNT=auto THEN the manager asked the loopback for the count, and each shard IDENTIFYed as [id, 2] with its own guild', () => {
    expect(manager.logs.find((l) => l.msg === 'shard count resolved')).toMatchObject({ shards: 2, requested: 'auto' });
    expect(rig.discord.requests.filter((r) => r.path === '/gateway/bot').length).toBeGreaterThanOrEqual(1);
    const ready = rig.discord.requests.filter((r) => r.method === 'GATEWAY' && r.path === 'READY');
    const shards = ready.map((r) => r.body as { shard: number[]; guilds: { id: string }[] });
    expect(shards.map((s) => s.shard).sort()).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(shards.find((s) => s.shard[0] === 0)?.guilds.map((g) => g.id)).toEqual([guild0.id]);
    expect(shards.find((s) => s.shard[0] === 1)?.guilds.map((g) => g.id)).toEqual([guild1.id]);
    // Each shard took its own lease.
    for (const shard of [0, 1]) {
      expect(
        manager.logs.some(
          (l) => l.msg === 'store lease acquired' && l.shard === shard && l.lease === `leases:${String(shard)}`,
        ),
      ).toBe(true);
    }
  });

  it('GIVEN a job in a guild of each shard THEN each is run and delivered by the shard that owns its guild', async () => {
    const a = await prompt(guild0, 'a lighthouse in a storm');
    const b = await prompt(guild1, 'a tram crossing a snowy bridge');
    expect([a.shard, b.shard]).toEqual([0, 1]);
    const [taskA, taskB] = await Promise.all([taskOf(a.jobId), taskOf(b.jobId)]);
    rig.kie.completeTask(taskA);
    rig.kie.completeTask(taskB);
    expect(await callback(taskA, a.jobId)).toBe(200);
    expect(await callback(taskB, b.jobId)).toBe(200);
    const [doneA, doneB] = await Promise.all([
      manager.waitForLog(delivered(a.jobId)),
      manager.waitForLog(delivered(b.jobId)),
    ]);
    expect(doneA.shard).toBe(0);
    expect(doneB.shard).toBe(1);
    expect(rig.messagesWithVideo(a.jobId)).toHaveLength(1);
    expect(rig.messagesWithVideo(b.jobId)).toHaveLength(1);
    expect((await rig.readStore(b.jobId)).remaining).toBe(4);
    // Nothing of one shard's job was touched by the other.
    expect(manager.logs.filter((l) => l.jobId === b.jobId && l.shard === 0)).toEqual([]);
    expect(manager.logs.filter((l) => l.jobId === a.jobId && l.shard === 1)).toEqual([]);
  });

  it('GIVEN a callback for a shard-1 job at the manager THEN the manager routes it to shard 1, which reads kie and delivers', async () => {
    const { jobId } = await prompt(guild1, 'a paper crane unfolding');
    const taskId = await taskOf(jobId);
    const reads = () =>
      rig.kie.requests.filter((r) => r.path === '/api/v1/veo/record-info' && r.query.taskId === taskId).length;
    const before = reads();
    rig.kie.completeTask(taskId);
    expect(await callback(taskId, jobId)).toBe(200);
    const routed = await manager.waitForLog((l) => l.msg === 'kie callback routed to its shard' && l.taskId === taskId);
    expect(routed).toMatchObject({ role: 'manager', shard: 1, outcome: 'read' });
    const handled = await manager.waitForLog((l) => l.msg === 'kie callback handled' && l.taskId === taskId);
    expect(handled.shard).toBe(1);
    expect((await manager.waitForLog(delivered(jobId))).shard).toBe(1);
    expect(reads() - before).toBe(1);
    expect(manager.logs.some((l) => l.msg === 'kie callback handled' && l.taskId === taskId && l.shard === 0)).toBe(
      false,
    );
    expect(rig.messagesWithVideo(jobId)).toHaveLength(1);

    // A callback for a task nobody has is answered 200 and goes nowhere (counted, not logged above debug);
    // a forged one is refused.
    const unknownJobs = async () =>
      Number(
        /^veo_kie_callbacks_routed_total\{outcome="unknown_job"\} (\S+)$/m.exec(
          await (await fetch(`http://127.0.0.1:${String(opsPort)}/metrics`)).text(),
        )?.[1] ?? 0,
      );
    expect(await unknownJobs()).toBe(0);
    expect(await callback('nobody-task', 'nojob')).toBe(200);
    for (let i = 0; i < 200 && (await unknownJobs()) === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await unknownJobs()).toBe(1);
    expect(manager.logs.some((l) => l.taskId === 'nobody-task')).toBe(false);
    const forged = await fetch(`http://127.0.0.1:${String(port)}/kie/callback`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'x-webhook-signature': 'AAAA',
      },
      body: JSON.stringify({ data: { taskId } }),
    });
    expect(forged.status).toBe(401);
  });

  it('GIVEN both shards up THEN /healthz and /readyz report each shard, and /metrics sums them', async () => {
    const health = await fetch(`http://127.0.0.1:${String(opsPort)}/healthz`);
    expect(health.status).toBe(200);
    const healthBody = (await health.json()) as {
      status: string;
      shards: { id: number; state: string; store: boolean }[];
    };
    expect(healthBody.status).toBe('ok');
    expect(healthBody.shards.map((s) => [s.id, s.state, s.store])).toEqual([
      [0, 'up', true],
      [1, 'up', true],
    ]);
    const ready = await fetch(`http://127.0.0.1:${String(opsPort)}/readyz`);
    expect(ready.status).toBe(200);
    expect(
      ((await ready.json()) as { shards: { ready: boolean; lease: boolean }[] }).shards.every(
        (s) => s.ready && s.lease,
      ),
    ).toBe(true);

    const metrics = await fetch(`http://127.0.0.1:${String(opsPort)}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    const sample = (name: string) =>
      Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    // Shard 0 delivered one job, shard 1 two: the manager shows the sum.
    expect(sample('veo_jobs_finished_total{state="delivered"}')).toBe(3);
    expect(sample('veo_gateway_ready')).toBe(1);
    expect(sample('veo_store_lease_held')).toBe(1);
    expect(sample('veo_shards')).toBe(2);
    expect(sample('veo_shards_answering')).toBe(2);
    expect(sample('veo_kie_callbacks_routed_total{outcome="forwarded"}')).toBe(3);
  });

  it('GIVEN shard 1 killed (SIGKILL) mid-job THEN the manager respawns it, it resumes the job, and the video is delivered once', async () => {
    const { handle, jobId } = await prompt(guild1, 'a kite over dunes');
    const taskId = await taskOf(jobId);
    const victim = manager.logs.filter((l) => l.msg === 'shard process started' && l.shard === 1).at(-1)?.pid;
    expect(typeof victim).toBe('number');
    const mark = manager.logs.length;
    const after = (predicate: (l: ChildLog) => boolean) => (l: ChildLog) =>
      predicate(l) && manager.logs.indexOf(l) >= mark;
    process.kill(Number(victim), 'SIGKILL');
    // kie finishes while shard 1 is down; nobody tells it (no callback): the respawned shard must find out.
    rig.kie.completeTask(taskId);
    await manager.waitForLog(
      after((l) => l.msg === 'shard process died; respawning it' && l.shard === 1 && l.signal === 'SIGKILL'),
    );
    const respawned = await manager.waitForLog(after((l) => l.msg === 'shard process started' && l.shard === 1));
    expect(respawned.pid).not.toBe(victim);
    await manager.waitForLog(
      after((l) => l.msg === 'jobs resumed' && l.shard === 1),
      20_000,
    );
    const done = await manager.waitForLog(after(delivered(jobId)));
    expect(done.shard).toBe(1);
    expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
    expect(rig.discord.originalMessage(handle.token)?.attachments).toHaveLength(1);
    expect(rig.kie.generateRequests().filter((r) => r.taskId === taskId)).toHaveLength(1);
    const { job, remaining } = await rig.readStore(jobId);
    expect(job?.state).toBe('delivered');
    // The third job of this member in guild 1 (5 units, 1 each).
    expect(remaining).toBe(2);
    // Shard 0 never stopped.
    expect(manager.logs.some((l) => l.msg === 'shard process died; respawning it' && l.shard === 0)).toBe(false);
  });
});

describe('npm run start:sharded on SQLite', () => {
  it('GIVEN STORE_URL=sqlite THEN the manager refuses to start, says why, and exits 1', async () => {
    const rig = await CrashRig.start({ env: { SHARD_COUNT: '2' } });
    try {
      const manager = rig.spawn({}, MANAGER_ENTRY);
      const exit = await manager.exited;
      expect(exit.code).toBe(1);
      expect(manager.stderr).toMatch(/cannot start sharded.*SQLite.*redis:\/\//s);
      expect(rig.discord.identifyCount).toBe(0);
    } finally {
      await rig.close();
    }
  });
});
