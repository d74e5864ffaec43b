import { afterEach, describe, expect, it } from 'vitest';
import { CrashRig, type ChildBot } from './helpers/childBot.js';
import { bodyOf, isCallback, isOriginalEdit } from './helpers/harness.js';
import type { InteractionHandle, RecordedRequest } from './helpers/loopbackDiscord.js';

const KIE_FAILURE = { errorCode: 500, errorMessage: 'internal error' };

/**
 * kill -9 of the compiled bot while a job is ending (DESIGN §4 "No step is ever stranded", §5): a
 * failure cut short is shown and refunded by the next process, and a 1080P click while a restarted
 * process is still confirming a delivery is prepared. Points are read from the loopbacks' records.
 */
describe('kill -9 while a job ends (real child processes, SIGKILL)', () => {
  let rig: CrashRig;

  afterEach(async () => {
    const violations = [...rig.discord.violations];
    await rig.close();
    expect(violations).toEqual([]);
  });

  async function prompt(
    bot: ChildBot,
    text: string,
    userId?: string,
  ): Promise<{ handle: InteractionHandle; jobId: string }> {
    const handle = await rig.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: 3, value: text }],
      ...(userId ? { userId } : {}),
    });
    const accepted = await bot.waitForLog((l) => l.msg === 'job accepted' && l.interactionId === handle.interactionId);
    return { handle, jobId: String(accepted.jobId) };
  }

  const isGenerate = (r: { method: string; path: string }) => r.method === 'POST' && r.path === '/api/v1/veo/generate';
  const isNotice = (token: string) => (r: RecordedRequest) =>
    isOriginalEdit(r, token) && String(bodyOf(r).content).includes('returned to you');

  async function stopGracefully(bot: ChildBot): Promise<void> {
    expect((await bot.kill('SIGTERM')).code).toBe(0);
  }

  it('GIVEN kill -9 while Discord keeps refusing the failure notice (503) THEN the next process shows it and the units are back, once', async () => {
    rig = await CrashRig.start();
    const first = await rig.spawnReady();
    rig.kie.autoComplete = null;
    const { handle, jobId } = await prompt(first, 'a snow leopard on a ridge');
    const taskId = (await rig.kie.waitFor(isGenerate)).taskId!;
    await rig.discord.waitForRequest(
      (r) => isOriginalEdit(r, handle.token) && String(bodyOf(r).content).includes('Generating'),
      { afterSeq: handle.seq },
    );
    rig.discord.failNext(
      { method: 'PATCH', pathIncludes: '/messages/@original' },
      { status: 503, code: 0, message: 'Service Unavailable' },
      1_000,
    );
    rig.kie.failTask(taskId, KIE_FAILURE.errorCode, KIE_FAILURE.errorMessage);
    const refused = await rig.discord.waitForRequest((r) => isNotice(handle.token)(r) && r.status === 503, {
      afterSeq: handle.seq,
    });
    await first.kill('SIGKILL');
    rig.discord.clearFaults();

    const second = await rig.spawnReady();
    expect(second.logs.find((l) => l.msg === 'jobs resumed')?.counts).toEqual({ failed: 1 });
    await rig.discord.waitForRequest((r) => isNotice(handle.token)(r) && r.status === 200, { afterSeq: refused.seq });
    await second.waitForLog((l) => l.msg === 'quota reconciled' && typeof l.ledgers === 'number');
    await stopGracefully(second);

    const { job, remaining } = await rig.readStore(jobId);
    expect(job).toMatchObject({ state: 'failed', refunded: true, noticePending: false });
    expect(job?.interaction.token).toBeNull();
    expect(remaining).toBe(5);
    expect(rig.discord.originalMessage(handle.token)?.content).toContain('returned to you');
  });

  it('GIVEN kie fails job after job and each process is killed 1 to 34 ms after kie said so THEN every failure is shown and refunded, once', async () => {
    rig = await CrashRig.start();
    rig.kie.autoComplete = { afterReads: 0, outcome: KIE_FAILURE };
    let bot = await rig.spawnReady();
    const jobs: { handle: InteractionHandle; jobId: string; userId: string }[] = [];
    for (const [index, delayMs] of [1, 2, 3, 5, 8, 13, 21, 34].entries()) {
      const userId = `83000000000000000${String(index)}`;
      const mark = rig.kie.requests.length;
      const { handle, jobId } = await prompt(bot, `a failing job, killed after ${String(delayMs)} ms`, userId);
      jobs.push({ handle, jobId, userId });
      const taskId = (await rig.kie.waitFor((r) => r.seq > mark && isGenerate(r))).taskId!;
      await rig.kie.waitFor((r) => r.path === '/api/v1/veo/record-info' && r.query.taskId === taskId);
      await new Promise((r) => setTimeout(r, delayMs));
      await bot.kill('SIGKILL');
      bot = await rig.spawnReady();
    }
    for (const { handle } of jobs) {
      await rig.discord.waitForRequest((r) => isNotice(handle.token)(r) && r.status === 200, { afterSeq: handle.seq });
    }
    await stopGracefully(bot);

    for (const { handle, jobId } of jobs) {
      const { job, remaining } = await rig.readStore(jobId);
      expect({ jobId, state: job?.state, refunded: job?.refunded, pending: job?.noticePending, remaining }).toEqual({
        jobId,
        state: 'failed',
        refunded: true,
        pending: false,
        remaining: 5,
      });
      expect(rig.discord.originalMessage(handle.token)?.content).toContain('returned to you');
    }
    expect(rig.restarts).toBe(8);
    expect(rig.kie.generateRequests()).toHaveLength(8);
  });

  it('GIVEN kill -9 after the result edit reached Discord WHEN 1080P is clicked while the restarted process is still confirming it THEN it is prepared, with one kie call', async () => {
    rig = await CrashRig.start();
    const first = await rig.spawnReady();
    const isUpload = (r: RecordedRequest) =>
      r.method === 'PATCH' && r.path.endsWith('/messages/@original') && r.files.length > 0;
    rig.discord.holdResponses(isUpload, 2);
    const { handle, jobId } = await prompt(first, 'a lantern-lit canal');
    const upload = await rig.discord.waitForRequest(isUpload, { afterSeq: handle.seq });
    await first.kill('SIGKILL');

    const second = await rig.spawnReady();
    await rig.discord.waitForRequest(isUpload, { afterSeq: upload.seq });
    const messageId = rig.discord.originalMessage(handle.token)!.id;
    const click = await rig.discord.buttonClick({ customId: `veo:hd:${jobId}`, messageId });
    const answer = await rig.discord.waitForRequest((r) => isCallback(r, click.interactionId), {
      afterSeq: click.seq,
    });
    expect(bodyOf(answer).type).toBe(5);
    await rig.discord.waitForRequest((r) => isOriginalEdit(r, click.token) && r.files.length === 1, {
      afterSeq: click.seq,
    });
    rig.discord.releaseHeld();
    await second.waitForLog((l) => l.msg === 'job transition' && l.jobId === jobId && l.to === 'delivered');
    await second.waitForLog((l) => l.msg === '1080P preparation finished' && l.jobId === jobId);
    await stopGracefully(second);

    const { job, remaining } = await rig.readStore(jobId);
    expect(job?.state).toBe('delivered');
    expect(job?.hd?.state).toBe('ready');
    expect(remaining).toBe(4);
    expect(rig.kie.requests.filter((r) => r.path === '/api/v1/veo/get-1080p-video')).toHaveLength(1);
    expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
  });
});
