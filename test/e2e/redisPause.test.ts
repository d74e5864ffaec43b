import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerOnPath, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { bodyOf, isCallback, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';

const STRING = 3;
const STORE_TIMEOUT_MS = 2_000;
const PAUSE_MS = 5_000;

/**
 * DESIGN §3 STORE_TIMEOUT_MS and §7 /healthz, on a real redis-server of this test's own, frozen with
 * SIGSTOP for 5 s while a job is generating: the TCP connection stays up and every command just waits,
 * which node-redis's offline queue would wait out forever.
 */
describe('Redis stalled for 5 s mid-job (SIGSTOP, real redis-server)', () => {
  let redis: RedisServer;
  let h: Harness;

  beforeAll(async () => {
    const binary = redisServerOnPath();
    if (binary === null) throw new Error('This test needs redis-server on PATH (npm test installs it as root).');
    redis = await startRedisServer(binary);
    h = await startHarness({ env: { STORE_URL: redis.url, STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS) } });
  });

  afterAll(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    await redis.stop();
    // Among them: every interaction sent during the stall was acknowledged within Discord's 3 s.
    expect(violations).toEqual([]);
  });

  async function healthz(): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${String(h.bot.opsPort)}/healthz`, {
      // Bounded so a hang fails the test instead of holding it: the answer must come with the store timeout.
      signal: AbortSignal.timeout(STORE_TIMEOUT_MS + 1_500),
    });
    return response.status;
  }

  it('GIVEN Redis frozen while a job generates THEN interactions are answered in time (an error), /healthz says 503, nothing is charged, and after SIGCONT the job is delivered once', async () => {
    h.kie.autoComplete = null;
    const member = '810000000000000001';
    const job = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: STRING, value: 'a tram crossing a bridge at night' }],
      userId: member,
    });
    await h.discord.waitForRequest(
      (r) => isOriginalEdit(r, job.token) && String(bodyOf(r).content).includes('Generating'),
      { afterSeq: job.seq },
    );
    const generate = await h.kie.waitFor((r) => r.method === 'POST' && r.path === '/api/v1/veo/generate');
    expect(await healthz()).toBe(200);

    redis.child.kill('SIGSTOP');
    const resumeAt = Date.now() + PAUSE_MS;
    try {
      expect(await healthz()).toBe(503);
      const other = '810000000000000002';
      const prompt = await h.discord.slashCommand({
        name: 'veo',
        subcommand: 'prompt',
        options: [{ name: 'prompt', type: STRING, value: 'a kite over dunes' }],
        userId: other,
      });
      const quota = await h.discord.slashCommand({ name: 'veo', subcommand: 'quota', userId: other });
      const refused = await h.discord.waitForRequest((r) => isCallback(r, prompt.interactionId), {
        afterSeq: prompt.seq,
      });
      expect(JSON.stringify(bodyOf(refused))).toMatch(/could not reach its storage/);
      await h.discord.waitForRequest((r) => isCallback(r, quota.interactionId), { afterSeq: quota.seq });
      // kie finishes while the store is away; the poll that finds it must wait for the store.
      h.kie.completeTask(generate.taskId!);
      await new Promise((r) => setTimeout(r, Math.max(0, resumeAt - Date.now())));
    } finally {
      redis.child.kill('SIGCONT');
    }

    const done = await h.job(job.interactionId, (j) => j.state === 'delivered');
    expect(await healthz()).toBe(200);
    const videos = [...h.discord.messages.values()].filter((m) =>
      m.attachments.some((a) => a.filename === `veo-${done.id}.mp4`),
    );
    expect(videos).toHaveLength(1);
    const guildId = h.discord.guild.id;
    expect((await h.bot.quota.status({ guildId, userId: member })).remaining).toBe(4);
    expect((await h.bot.quota.status({ guildId, userId: '810000000000000002' })).remaining).toBe(5);
    expect(h.kie.generateRequests()).toHaveLength(1);
    expect(h.logs.some((l) => l.message === 'job step failed; trying again')).toBe(true);
  });
});
