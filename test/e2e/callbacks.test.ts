import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../src/services/jobs/record.js';
import { bodyOf, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';
import type { InteractionHandle } from './helpers/loopbackDiscord.js';

const HMAC_KEY = 'loopback-webhook-hmac-key';
const RECORD_INFO = '/api/v1/veo/record-info';

/** kie's documented scheme, computed here independently of the bot's code. */
function signature(taskId: string, timestamp: string, key = HMAC_KEY): string {
  return createHmac('sha256', key).update(`${taskId}.${timestamp}`).digest('base64');
}

/** Prometheus text exposition format: every line is a comment, blank, or `name{labels} value [timestamp]`. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const sample =
    /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|\+Inf|-Inf))( -?\d+)?$/;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      expect(line).toMatch(/^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$/);
      continue;
    }
    const match = sample.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    samples.set(`${match[1]!}${match[2] ?? ''}`, Number(match[3]));
  }
  return samples;
}

describe('HTTP server: kie callbacks, health, metrics (DESIGN §7)', () => {
  let h: Harness;
  let offset = 0;
  const clock = { now: () => Date.now() + offset };

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  async function startWithCallbacks(): Promise<void> {
    offset = 0;
    h = await startHarness({
      clock,
      env: { KIE_POLL_INTERVAL_MS: '600000', PUBLIC_BASE_URL: 'https://veo.example', KIE_WEBHOOK_HMAC_KEY: HMAC_KEY },
    });
    h.kie.autoComplete = null;
  }

  /** The public listener (kie's way in). */
  function url(path: string): string {
    return `http://127.0.0.1:${String(h.bot.httpPort)}${path}`;
  }

  /** The operator's listener (loopback only). */
  function opsUrl(path: string): string {
    return `http://127.0.0.1:${String(h.bot.opsPort)}${path}`;
  }

  function callbackBody(taskId: string): string {
    // A callback says what it likes; none of it is trusted (the result URL here is never used).
    return JSON.stringify({
      code: 200,
      msg: 'Veo3.1 video generated successfully.',
      data: { taskId, info: { resultUrls: ['https://evil.example/not-ours.mp4'] }, fallbackFlag: false },
    });
  }

  async function callback(
    taskId: string,
    options: {
      jobId?: string;
      timestamp?: string;
      signature?: string | null;
      body?: string;
      contentType?: string;
    } = {},
  ): Promise<number> {
    const timestamp = options.timestamp ?? String(Math.floor(clock.now() / 1000));
    const headers: Record<string, string> = {
      'content-type': options.contentType ?? 'application/json',
      'x-webhook-timestamp': timestamp,
    };
    const sig = options.signature === undefined ? signature(taskId, timestamp) : options.signature;
    if (sig !== null) headers['x-webhook-signature'] = sig;
    const query = options.jobId ? `?job=${options.jobId}` : '';
    const response = await fetch(url(`/kie/callback${query}`), {
      method: 'POST',
      headers,
      body: options.body ?? callbackBody(taskId),
    });
    await response.text();
    return response.status;
  }

  /** The bot logs each callback it acted on; wait for the n-th one of this task. */
  async function handled(taskId: string, n: number): Promise<string> {
    for (let i = 0; i < 400; i++) {
      const lines = h.logs.filter((l) => l.message === 'kie callback handled' && l.fields.taskId === taskId);
      if (lines.length >= n) return String(lines[n - 1]!.fields.outcome);
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`callback ${n} for ${taskId} was not handled`);
  }

  const reads = (taskId: string) => h.kie.requests.filter((r) => r.path === RECORD_INFO && r.query.taskId === taskId);

  async function generating(text: string): Promise<{ handle: InteractionHandle; job: JobRecord }> {
    const handle = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: 3, value: text }],
    });
    const job = await h.job(handle.interactionId, (j) => j.state === 'generating');
    await h.discord.waitForRequest(
      (r) => isOriginalEdit(r, handle.token) && String(bodyOf(r).content).includes('Generating'),
      {
        afterSeq: handle.seq,
      },
    );
    return { handle, job };
  }

  it('GIVEN polling slowed to 10 minutes WHEN a signed callback arrives THEN it leads to one record-info read and the delivery', async () => {
    await startWithCallbacks();
    const { handle, job } = await generating('a paper crane taking flight');
    expect(h.kie.generateRequests()[0]!.json).toMatchObject({
      callBackUrl: `https://veo.example/kie/callback?job=${job.id}`,
    });
    h.kie.completeTask(job.taskId!);
    expect(reads(job.taskId!)).toEqual([]);

    expect(await callback(job.taskId!, { jobId: job.id })).toBe(200);
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    expect(await handled(job.taskId!, 1)).toBe('read');
    expect(reads(job.taskId!)).toHaveLength(1);
    expect(done.resultUrls).toEqual(h.kie.tasks.get(job.taskId!)!.resultUrls);
    const final = h.discord
      .requestsAfter(handle.seq)
      .filter((r) => isOriginalEdit(r, handle.token))
      .at(-1)!;
    expect(final.files.map((f) => f.fileName)).toEqual([`veo-${job.id}.mp4`]);
    expect(JSON.stringify(bodyOf(final))).not.toContain('evil.example');
  });

  it('GIVEN bad requests THEN a wrong or missing signature and a stale timestamp get 401, an oversized body 413, non-JSON 400, and none reads kie', async () => {
    await startWithCallbacks();
    const { job } = await generating('a silver fish in a pond');
    const taskId = job.taskId!;
    const now = String(Math.floor(clock.now() / 1000));
    expect(await callback(taskId, { signature: signature(taskId, now, 'some-other-key') })).toBe(401);
    expect(await callback(taskId, { signature: 'short' })).toBe(401);
    expect(await callback(taskId, { signature: null })).toBe(401);
    expect(await callback(taskId, { signature: signature('another-task', now) })).toBe(401);
    const stale = String(Math.floor(clock.now() / 1000) - 6 * 60);
    expect(await callback(taskId, { timestamp: stale, signature: signature(taskId, stale) })).toBe(401);
    const future = String(Math.floor(clock.now() / 1000) + 6 * 60);
    expect(await callback(taskId, { timestamp: future, signature: signature(taskId, future) })).toBe(401);
    const huge = JSON.stringify({ code: 200, data: { taskId, padding: 'x'.repeat(64 * 1024) } });
    expect(await callback(taskId, { body: huge })).toBe(413);
    expect(await callback(taskId, { body: 'taskId=' + taskId, contentType: 'application/x-www-form-urlencoded' })).toBe(
      400,
    );
    expect(await callback(taskId, { body: '{"data":{"taskId":' })).toBe(400);
    expect(await callback(taskId, { body: '{"code":200,"data":{}}' })).toBe(400);

    // A good one afterwards still works, and is the only one that reached the runner.
    expect(await callback(taskId)).toBe(200);
    expect(await handled(taskId, 1)).toBe('read');
    expect(h.logs.filter((l) => l.message === 'kie callback handled')).toHaveLength(1);
    // "handled: read" is logged as the read is scheduled; on a loaded machine it reaches kie a moment later.
    for (let i = 0; i < 400 && reads(taskId).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(reads(taskId)).toHaveLength(1);
    expect(h.logs.filter((l) => l.message === 'kie callback refused').map((l) => l.fields.status)).toEqual([
      401, 401, 401, 401, 401, 401, 413, 400, 400, 400,
    ]);
  });

  it('GIVEN a callback while record-info still says generating THEN nothing is posted; a later one delivers; a duplicate posts nothing more', async () => {
    await startWithCallbacks();
    const { handle, job } = await generating('a bonsai tree in a storm');
    const taskId = job.taskId!;
    const before = h.discord.requests.at(-1)!.seq;

    expect(await callback(taskId)).toBe(200);
    expect(await handled(taskId, 1)).toBe('read');
    // A second one within 5 s is coalesced: no second read.
    expect(await callback(taskId)).toBe(200);
    expect(await handled(taskId, 2)).toBe('coalesced');
    await h.kie.waitFor((r) => r.path === RECORD_INFO && r.query.taskId === taskId);
    expect(reads(taskId)).toHaveLength(1);
    expect((await h.bot.jobs.get(job.id))?.state).toBe('generating');

    h.kie.completeTask(taskId);
    offset += 6_000;
    // From the first callback until the one after kie finished, the bot said nothing on Discord.
    expect(h.discord.requestsAfter(before).filter((r) => r.method !== 'GATEWAY')).toEqual([]);
    expect(await callback(taskId)).toBe(200);
    await h.job(handle.interactionId, (j) => j.state === 'delivered');
    expect(await handled(taskId, 3)).toBe('read');
    const deliveredAt = h.discord.requests.at(-1)!.seq;

    offset += 6_000;
    expect(await callback(taskId)).toBe(200);
    expect(await handled(taskId, 4)).toBe('ignored');
    expect(h.discord.requestsAfter(deliveredAt).filter((r) => r.method !== 'GATEWAY')).toEqual([]);
    expect(reads(taskId)).toHaveLength(2);
    expect(h.discord.originalMessage(handle.token)?.attachments).toHaveLength(1);
  });

  it('GIVEN an unknown task THEN 200 and ignored; WITH ?job= naming a job that lost its generate answer THEN the task is adopted after a matching record-info and delivered free', async () => {
    await startWithCallbacks();
    expect(await callback('f'.repeat(32))).toBe(200);
    expect(await handled('f'.repeat(32), 1)).toBe('unknown_task');
    expect(reads('f'.repeat(32))).toEqual([]);

    h.kie.nextGenerate({ kind: 'error', httpStatus: 502, code: 502, msg: 'Bad Gateway' });
    const text = 'a comet over a mountain lake';
    const handle = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: 3, value: text }],
    });
    const lost = await h.job(handle.interactionId, (j) => j.state === 'failed_unknown' && j.interaction.token === null);
    expect((await h.bot.quota.status({ guildId: lost.guildId, userId: lost.requesterId })).remaining).toBe(5);

    // kie did create the task after all (it is in its records, with our prompt) and calls back.
    const adopt = (taskId: string, prompt: string) => {
      h.kie.tasks.set(taskId, {
        taskId,
        body: {
          prompt,
          model: 'veo3_fast',
          aspect_ratio: '16:9',
          callBackUrl: `https://veo.example/kie/callback?job=${lost.id}`,
        },
        successFlag: 0,
        resultUrls: [],
        errorCode: null,
        errorMessage: null,
        readsUntilDone: null,
        hdScript: ['ready'],
        createTime: Date.now(),
        completeTime: null,
      });
      h.kie.completeTask(taskId);
    };
    adopt('a'.repeat(32), 'somebody else entirely');
    expect(await callback('a'.repeat(32), { jobId: lost.id })).toBe(200);
    expect(await handled('a'.repeat(32), 1)).toBe('mismatch');
    expect((await h.bot.jobs.get(lost.id))?.taskId).toBeNull();

    // A genuine signed callback of another member's task (same prompt, its own callBackUrl), replayed
    // under ?job=<this job>: the signature does not cover ?job=, the URL kie echoes does.
    offset += 6_000;
    adopt('c'.repeat(32), text);
    h.kie.tasks.get('c'.repeat(32))!.body.callBackUrl = 'https://veo.example/kie/callback?job=someoneelse01';
    expect(await callback('c'.repeat(32), { jobId: lost.id })).toBe(200);
    expect(await handled('c'.repeat(32), 1)).toBe('mismatch');
    expect((await h.bot.jobs.get(lost.id))?.taskId).toBeNull();

    offset += 6_000;
    adopt('b'.repeat(32), text);
    expect(await callback('b'.repeat(32), { jobId: lost.id })).toBe(200);
    expect(await handled('b'.repeat(32), 1)).toBe('adopted');
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    expect(done.taskId).toBe('b'.repeat(32));
    // Nothing of the replayed task reached the member.
    expect(JSON.stringify(h.discord.requestsAfter(handle.seq).map(bodyOf))).not.toContain('c'.repeat(32));
    expect(done.late).toBe(true);
    const final = h.discord
      .requestsAfter(handle.seq)
      .filter((r) => r.files.length === 1)
      .at(-1)!;
    expect(String(bodyOf(final).content)).toContain('it is free');
    expect((await h.bot.quota.status({ guildId: done.guildId, userId: done.requesterId })).remaining).toBe(5);
    expect(h.kie.generateRequests()).toHaveLength(1);
  });

  it('GIVEN 5,000 callbacks for tasks nobody knows, and 1,000 badly signed ones THEN all are answered, counted in /metrics, and at most a few lines reach info', async () => {
    await startWithCallbacks();
    for (let i = 0; i < 400 && !h.logs.some((l) => l.message === 'jobs resumed'); i++)
      await new Promise((r) => setTimeout(r, 25));
    const from = h.logs.length;
    const requests: Array<() => Promise<number>> = [];
    for (let i = 0; i < 5_000; i++) requests.push(() => callback(`unknown${String(i).padStart(6, '0')}`));
    for (let i = 0; i < 1_000; i++) requests.push(() => callback(`forged${String(i)}`, { signature: 'AAAA' }));
    const statuses = new Map<number, number>();
    for (let i = 0; i < requests.length; i += 100) {
      for (const status of await Promise.all(requests.slice(i, i + 100).map((send) => send())))
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 200: 5_000, 401: 1_000 });

    const scrape = async () => parsePrometheus(await (await fetch(opsUrl('/metrics'))).text());
    let metrics = await scrape();
    for (let i = 0; i < 400 && metrics.get('veo_kie_callbacks_total{outcome="unknown_task"}') !== 5_000; i++) {
      await new Promise((r) => setTimeout(r, 25));
      metrics = await scrape();
    }
    expect(metrics.get('veo_kie_callbacks_total{outcome="unknown_task"}')).toBe(5_000);
    expect(metrics.get('veo_http_public_requests_total{outcome="accepted"}')).toBe(5_000);
    expect(metrics.get('veo_http_public_requests_total{outcome="refused_401"}')).toBe(1_000);
    // Before: one info line per unknown callback and one warn per refusal (67,827 lines in 12 s).
    expect(h.logs.slice(from).filter((l) => l.level !== 'debug')).toEqual([]);
  });

  it('GIVEN the loopback gateway is down THEN /healthz stays 200 and /readyz is 503 until it is back; /metrics is Prometheus text without ids', async () => {
    offset = 0;
    h = await startHarness({ clock });
    const status = async (path: string) => (await fetch(opsUrl(path))).status;
    expect(await status('/healthz')).toBe(200);
    expect(await status('/readyz')).toBe(200);
    // The operator's endpoints are not on the port kie (and the internet) reaches.
    for (const path of ['/metrics', '/healthz', '/readyz']) expect((await fetch(url(path))).status).toBe(404);

    const handle = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: 3, value: 'a quiet harbour' }],
    });
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');

    h.discord.setGatewayDown(true);
    const until = async (path: string, code: number) => {
      for (let i = 0; i < 600 && (await status(path)) !== code; i++) await new Promise((r) => setTimeout(r, 25));
      return status(path);
    };
    expect(await until('/readyz', 503)).toBe(503);
    expect(await status('/healthz')).toBe(200);
    const metricsDown = parsePrometheus(await (await fetch(opsUrl('/metrics'))).text());
    expect(metricsDown.get('veo_gateway_ready')).toBe(0);
    h.discord.setGatewayDown(false);
    expect(await until('/readyz', 200)).toBe(200);

    const response = await fetch(opsUrl('/metrics'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    const metrics = parsePrometheus(text);
    expect(metrics.get('veo_kie_requests_total{endpoint="/api/v1/veo/generate",code="200"}')).toBe(1);
    expect(metrics.get('veo_kie_requests_total{endpoint="/api/v1/veo/record-info",code="200"}')).toBeGreaterThanOrEqual(
      2,
    );
    expect(metrics.get('veo_jobs_finished_total{state="delivered"}')).toBe(1);
    expect(metrics.get('veo_job_duration_seconds_count{state="delivered"}')).toBe(1);
    expect(metrics.get('veo_jobs{state="generating"}')).toBe(0);
    expect(metrics.get('veo_discord_ack_latency_seconds_count')).toBe(1);
    expect(metrics.get('veo_store_lease_held')).toBe(1);
    expect(metrics.get('veo_gateway_ready')).toBe(1);
    for (const id of [done.requesterId, done.guildId!, done.channelId, done.id, done.taskId!])
      expect(text).not.toContain(id);
    expect(await status('/nope')).toBe(404);
  });
});
