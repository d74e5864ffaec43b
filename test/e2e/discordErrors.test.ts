import { afterEach, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../src/services/jobs/record.js';
import { bodyOf, isCallback, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';
import type { InteractionHandle, RecordedRequest } from './helpers/loopbackDiscord.js';

const STRING = 3;

/** DESIGN §4 "Discord errors are transient or permanent" and §5 "The button works the moment it is visible". */
describe('Discord refusals, bare 429s and a 1080P click mid-delivery (real client, loopback Discord and kie)', () => {
  let h: Harness;

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  async function generating(text: string): Promise<{ handle: InteractionHandle; taskId: string }> {
    h.kie.autoComplete = null;
    const handle = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: STRING, value: text }],
    });
    const generate = await h.kie.waitFor((r) => r.method === 'POST' && r.path === '/api/v1/veo/generate');
    await h.discord.waitForRequest(
      (r) => isOriginalEdit(r, handle.token) && String(bodyOf(r).content).includes('Generating'),
      { afterSeq: handle.seq },
    );
    return { handle, taskId: generate.taskId! };
  }

  const isResult = (token: string) => (r: RecordedRequest) => isOriginalEdit(r, token) && r.files.length > 0;
  const videosOf = (job: JobRecord) =>
    [...h.discord.messages.values()].filter((m) => m.attachments.some((a) => a.filename === `veo-${job.id}.mp4`));
  const settled = (handle: InteractionHandle) =>
    h.job(handle.interactionId, (j) => j.state === 'delivered' || j.state === 'undeliverable');

  it('GIVEN Discord refuses the result with a permanent 400 THEN the alternative form (without the link button) is sent once and delivered', async () => {
    h = await startHarness();
    const { handle, taskId } = await generating('a glass whale in the sky');
    h.discord.failNext(
      { method: 'PATCH', pathIncludes: '/messages/@original' },
      { status: 400, code: 50035, message: 'Invalid Form Body' },
    );
    h.kie.completeTask(taskId);
    const job = await settled(handle);
    expect(job.state).toBe('delivered');
    const writes = h.discord.requests.filter(isResult(handle.token));
    expect(writes).toHaveLength(2);
    const buttons = (r: RecordedRequest) => JSON.stringify(bodyOf(r).components);
    expect(buttons(writes[0]!)).toContain('"style":5');
    expect(buttons(writes[1]!)).not.toContain('"style":5');
    expect(videosOf(job)).toHaveLength(1);
    expect(job.deliveryFailures).toBe(0);
  });

  it('GIVEN Discord refuses both forms THEN after two writes the job is undeliverable, the member is told, and no retry follows', async () => {
    h = await startHarness();
    const { handle, taskId } = await generating('a glass whale in the sea');
    h.discord.failNext(
      { method: 'PATCH', pathIncludes: '/messages/@original' },
      { status: 400, code: 50035, message: 'Invalid Form Body' },
      2,
    );
    h.kie.completeTask(taskId);
    const job = await settled(handle);
    expect(job.state).toBe('undeliverable');
    const edits = h.discord.requestsAfter(handle.seq).filter((r) => isOriginalEdit(r, handle.token));
    const afterStatus = edits.filter((r) => !String(bodyOf(r).content).includes('Generating'));
    expect(afterStatus.filter((r) => r.files.length > 0)).toHaveLength(2);
    // The third write is the plain notice, with the link the member can still open.
    expect(afterStatus).toHaveLength(3);
    expect(String(bodyOf(afterStatus[2]!).content)).toContain(`/files/${taskId}.mp4`);
    expect(h.discord.originalMessage(handle.token)?.content).toContain(`/files/${taskId}.mp4`);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.discord.requestsAfter(handle.seq).filter((r) => isOriginalEdit(r, handle.token))).toHaveLength(
      edits.length,
    );
    expect(h.kie.requests.filter((r) => r.path === `/files/${taskId}.mp4`)).toHaveLength(1);
  });

  it('GIVEN 429s without rate-limit headers THEN the bot backs off itself (a handful of requests, not a loop); a proper 429 is waited out by the library', async () => {
    h = await startHarness();
    h.kie.autoComplete = null;
    const edits = { method: 'PATCH', pathIncludes: '/messages/@original' };
    h.discord.failNext(edits, { status: 429, code: 0, message: 'You are being rate limited.' }, 10_000);
    const handle = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: STRING, value: 'a lighthouse keeper' }],
    });
    const first = await h.discord.waitForRequest((r) => isOriginalEdit(r, handle.token), { afterSeq: handle.seq });
    expect(first.status).toBe(429);
    await new Promise((r) => setTimeout(r, 2_500));
    const limited = h.discord.requestsAfter(handle.seq).filter((r) => isOriginalEdit(r, handle.token));
    // Backed off 1 s, then 2 s: three at most in 2.5 s (@discordjs/rest alone sent about 50 a second).
    expect(limited.length).toBeGreaterThanOrEqual(2);
    expect(limited.length).toBeLessThanOrEqual(3);
    expect(limited.every((r) => r.status === 429)).toBe(true);
    expect(h.logs.filter((l) => l.message === 'job step failed; trying again').length).toBe(limited.length);
    h.discord.clearFaults();

    // A 429 that says how long to wait: @discordjs/rest waits it out and resends; nothing reaches our backoff.
    h.discord.failNext(edits, { status: 429, code: 0, message: 'You are being rate limited.', retryAfter: 0.3 });
    const retries = h.logs.filter((l) => l.message === 'job step failed; trying again').length;
    const generate = await h.kie.waitFor((r) => r.method === 'POST' && r.path === '/api/v1/veo/generate');
    h.kie.completeTask(generate.taskId!);
    const job = await settled(handle);
    expect(job.state).toBe('delivered');
    expect(videosOf(job)).toHaveLength(1);
    const waited = h.discord
      .requestsAfter(first.seq)
      .filter((r) => isOriginalEdit(r, handle.token) && r.files.length > 0);
    expect(waited.map((r) => r.status)).toEqual([429, 200]);
    expect(h.logs.filter((l) => l.message === 'job step failed; trying again').length).toBe(retries);
    expect(job.deliveryFailures).toBe(0);
  });

  it('GIVEN the defer itself fails (Discord says the interaction is gone) THEN the job ends failed and refunded, its token dropped, and nothing is generated', async () => {
    h = await startHarness();
    h.discord.failNext(
      { method: 'POST', pathIncludes: '/callback' },
      { status: 404, code: 10062, message: 'Unknown interaction' },
    );
    const userId = '840000000000000001';
    const handle = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: STRING, value: 'a comet over a harbour' }],
      userId,
    });
    await h.discord.waitForRequest((r) => isCallback(r, handle.interactionId) && r.status === 404, {
      afterSeq: handle.seq,
    });
    const ended = async () => (await h.bot.jobs.ofMember(h.discord.guild.id, userId))[0];
    for (let i = 0; i < 100 && (await ended())?.state !== 'failed'; i++) await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 100 && h.bot.runner.busy; i++) await new Promise((r) => setTimeout(r, 20));
    const job = await ended();
    expect(job).toMatchObject({ state: 'failed', refunded: true });
    expect(job?.interaction.token).toBeNull();
    expect(await h.bot.jobs.active()).toEqual([]);
    expect((await h.bot.quota.status({ guildId: h.discord.guild.id, userId })).remaining).toBe(5);
    expect(h.kie.generateRequests()).toHaveLength(0);
  });

  it('GIVEN 1080P is clicked while the result edit is still on its way (the record not yet delivered) THEN it is prepared, with one kie call', async () => {
    h = await startHarness();
    const { handle, taskId } = await generating('a clockwork garden');
    h.discord.holdResponses(isResult(handle.token));
    h.kie.completeTask(taskId);
    await h.discord.waitForRequest(isResult(handle.token), { afterSeq: handle.seq });
    const inFlight = await h.job(handle.interactionId);
    expect(inFlight.state).toBe('delivering');
    const click = await h.discord.buttonClick({ customId: `veo:hd:${inFlight.id}`, messageId: inFlight.messageId! });
    const answer = await h.discord.waitForRequest((r) => isCallback(r, click.interactionId), { afterSeq: click.seq });
    // A defer (type 5), not a reply saying the video is not finished.
    expect(bodyOf(answer).type).toBe(5);
    await h.discord.waitForRequest((r) => isOriginalEdit(r, click.token) && r.files.length === 1, {
      afterSeq: click.seq,
    });
    h.discord.releaseHeld();
    const job = await h.job(handle.interactionId, (j) => j.state === 'delivered' && j.hd?.state === 'ready');
    expect(job.hd?.state).toBe('ready');
    expect(h.kie.requests.filter((r) => r.path === '/api/v1/veo/get-1080p-video')).toHaveLength(1);
    expect(videosOf(job)).toHaveLength(1);
  });
});
