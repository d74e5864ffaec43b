import { afterEach, describe, expect, it } from 'vitest';
import { CrashRig, type ChildBot } from './helpers/childBot.js';
import { bodyOf, isOriginalEdit } from './helpers/harness.js';
import type { InteractionHandle, RecordedRequest } from './helpers/loopbackDiscord.js';
import { mediaFiles, mediaFolders } from './helpers/mediaFiles.js';

/**
 * kill -9 of the compiled bot at each risky point of a job, then a restart on the same SQLite file: the
 * job ends the way DESIGN §4 says, exactly one message carries the video, and the quota matches.
 * "The child reached point X" is read from the loopback servers' recorded requests, never from sleeps.
 */
describe('crash and restart (real child processes, SIGKILL)', () => {
  let rig: CrashRig;

  afterEach(async () => {
    const violations = [...rig.discord.violations];
    await rig.close();
    expect(violations).toEqual([]);
  });

  async function prompt(bot: ChildBot, text: string): Promise<{ handle: InteractionHandle; jobId: string }> {
    const handle = await rig.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: 3, value: text }],
    });
    const accepted = await bot.waitForLog((l) => l.msg === 'job accepted' && l.interactionId === handle.interactionId);
    return { handle, jobId: String(accepted.jobId) };
  }

  const isGenerate = (r: { method: string; path: string }) => r.method === 'POST' && r.path === '/api/v1/veo/generate';
  const delivered = (jobId: string) => (l: { msg: string; [k: string]: unknown }) =>
    l.msg === 'job transition' && l.jobId === jobId && l.to === 'delivered';

  async function stopGracefully(bot: ChildBot): Promise<void> {
    const exit = await bot.kill('SIGTERM');
    expect(exit.code).toBe(0);
  }

  it('GIVEN kill -9 after generate was sent but before it answered THEN the restart fails it as unknown, refunds it, and never resubmits', async () => {
    rig = await CrashRig.start();
    const first = await rig.spawnReady();
    rig.kie.nextGenerate({ kind: 'hang' });
    const { handle, jobId } = await prompt(first, 'a paper boat on a rainy street');
    await rig.kie.waitFor(isGenerate);
    await first.kill('SIGKILL');

    const second = await rig.spawnReady();
    const apology = await rig.discord.waitForRequest(
      (r) => isOriginalEdit(r, handle.token) && String(bodyOf(r).content).includes('did not confirm'),
      { afterSeq: handle.seq },
    );
    expect(String(bodyOf(apology).content)).toContain('1 unit(s) returned to you');
    await stopGracefully(second);

    const { job, remaining } = await rig.readStore(jobId);
    expect(job?.state).toBe('failed_unknown');
    expect(job?.refunded).toBe(true);
    expect(remaining).toBe(5);
    expect(rig.kie.generateRequests()).toHaveLength(1);
    expect(rig.messagesWithVideo(jobId)).toHaveLength(0);
    expect(rig.restarts).toBe(1);
  });

  it('GIVEN kill -9 after the task id was stored THEN the restart keeps polling and delivers once', async () => {
    rig = await CrashRig.start();
    const first = await rig.spawnReady();
    rig.kie.autoComplete = null;
    const { handle, jobId } = await prompt(first, 'a lantern festival over a river');
    const generate = await rig.kie.waitFor(isGenerate);
    const taskId = generate.taskId!;
    // The first record-info read comes one interval after the task id was written.
    await rig.kie.waitFor((r) => r.path === '/api/v1/veo/record-info' && r.query.taskId === taskId);
    await first.kill('SIGKILL');

    const mark = rig.kie.requests.length;
    const second = await rig.spawnReady();
    await rig.kie.waitFor((r) => r.seq > mark && r.path === '/api/v1/veo/record-info' && r.query.taskId === taskId);
    rig.kie.completeTask(taskId);
    await second.waitForLog(delivered(jobId));
    await stopGracefully(second);

    const { job, remaining } = await rig.readStore(jobId);
    expect(job?.state).toBe('delivered');
    expect(remaining).toBe(4);
    expect(rig.kie.generateRequests()).toHaveLength(1);
    expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
    expect(rig.discord.originalMessage(handle.token)?.attachments).toHaveLength(1);
    expect(rig.restarts).toBe(1);
  });

  it('GIVEN kill -9 while the mp4 download is half done THEN the restart downloads again and delivers once', async () => {
    rig = await CrashRig.start();
    const first = await rig.spawnReady();
    rig.kie.holdFileBodies = true;
    const { handle, jobId } = await prompt(first, 'a hot air balloon over canyons');
    await rig.kie.waitFor((r) => r.method === 'GET' && r.path.startsWith('/files/') && r.path.endsWith('.mp4'));
    await first.kill('SIGKILL');
    rig.kie.holdFileBodies = false;

    const second = await rig.spawnReady();
    await second.waitForLog(delivered(jobId));
    await stopGracefully(second);

    const { job, remaining } = await rig.readStore(jobId);
    expect(job?.state).toBe('delivered');
    expect(remaining).toBe(4);
    expect(rig.kie.generateRequests()).toHaveLength(1);
    expect(rig.kie.requests.filter((r) => r.path.startsWith('/files/'))).toHaveLength(2);
    expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
    expect(rig.discord.originalMessage(handle.token)?.attachments).toHaveLength(1);
    expect(rig.restarts).toBe(1);
  });

  it('GIVEN kill -9 after the upload edit reached Discord but before its answer THEN the restart edits the same message again: one video', async () => {
    rig = await CrashRig.start();
    const first = await rig.spawnReady();
    const isUpload = (r: RecordedRequest) =>
      r.method === 'PATCH' && r.path.endsWith('/messages/@original') && r.files.length > 0;
    rig.discord.holdResponses(isUpload);
    const { handle, jobId } = await prompt(first, 'a city of glass at sunrise');
    await rig.discord.waitForRequest(isUpload, { afterSeq: handle.seq });
    // Discord already holds the video; the bot never heard back.
    expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
    await first.kill('SIGKILL');

    const second = await rig.spawnReady();
    await second.waitForLog(delivered(jobId));
    await stopGracefully(second);

    const { job, remaining } = await rig.readStore(jobId);
    expect(job?.state).toBe('delivered');
    expect(remaining).toBe(4);
    expect(rig.discord.requests.filter(isUpload)).toHaveLength(2);
    expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
    expect(rig.restarts).toBe(1);
  });

  it('GIVEN kill -9 while the video uploads from its temporary file THEN the file outlives the process, and the next start removes it and delivers once', async () => {
    rig = await CrashRig.start();
    const first = await rig.spawnReady();
    const isUpload = (r: RecordedRequest) =>
      r.method === 'PATCH' && r.path.endsWith('/messages/@original') && r.files.length > 0;
    rig.discord.holdResponses(isUpload);
    const { jobId } = await prompt(first, 'a lighthouse keeper at dawn');
    await rig.discord.waitForRequest(isUpload);
    const uploading = await mediaFiles(rig.dir);
    expect(uploading).toHaveLength(1);
    expect(uploading[0]).toMatch(new RegExp(`-${String(first.pid)}/[^/]+\\.mp4$`));
    await first.kill('SIGKILL');
    expect(await mediaFiles(rig.dir)).toEqual(uploading);

    const second = await rig.spawnReady();
    expect(second.logs.find((l) => l.msg === 'removed media files left by a crash')).toMatchObject({ removed: 1 });
    await second.waitForLog(delivered(jobId));
    expect(await mediaFolders(rig.dir)).toEqual([expect.stringMatching(new RegExp(`-${String(second.pid)}$`))]);
    expect(await mediaFiles(rig.dir)).toEqual([]);
    await stopGracefully(second);

    expect(await mediaFolders(rig.dir)).toEqual([]);
    expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
    expect(rig.restarts).toBe(1);
  });

  it('GIVEN a dead token, a refused edit, and kill -9 after the new channel post reached Discord THEN the restart finds that post instead of posting again', async () => {
    rig = await CrashRig.start();
    const first = await rig.spawnReady();
    rig.kie.autoComplete = null;
    const { handle, jobId } = await prompt(first, 'a fox reading a map');
    const generate = await rig.kie.waitFor(isGenerate);
    await rig.discord.waitForRequest(
      (r) => isOriginalEdit(r, handle.token) && String(bodyOf(r).content).includes('Generating'),
      {
        afterSeq: handle.seq,
      },
    );
    const channelId = rig.discord.guild.channelId;
    const refuseEdit = () =>
      rig.discord.failNext(
        { method: 'PATCH', pathIncludes: `/channels/${channelId}/messages/` },
        { status: 403, code: 50013, message: 'Missing Permissions' },
      );
    const isPost = (r: RecordedRequest) =>
      r.method === 'POST' && r.path === `/channels/${channelId}/messages` && r.files.length > 0;
    rig.discord.expireToken(handle.token);
    refuseEdit();
    rig.discord.holdResponses(isPost);
    rig.kie.completeTask(generate.taskId!);
    const post = await rig.discord.waitForRequest(isPost, { afterSeq: handle.seq });
    await first.kill('SIGKILL');

    refuseEdit();
    const second = await rig.spawnReady();
    await second.waitForLog(delivered(jobId));
    await stopGracefully(second);

    const { job, remaining } = await rig.readStore(jobId);
    expect(job?.state).toBe('delivered');
    expect(job?.interaction.tokenDead).toBe(true);
    expect(remaining).toBe(4);
    expect(rig.discord.requests.filter(isPost)).toHaveLength(1);
    expect(bodyOf(post).nonce).toBe(`${jobId}-1`);
    expect(bodyOf(post).enforce_nonce).toBe(true);
    const videos = rig.messagesWithVideo(jobId);
    expect(videos).toHaveLength(1);
    expect(job?.deliveredMessageId).toBe(videos[0]!.id);
    const refused = rig.discord.requests.find((r) => r.path.includes(handle.token) && r.status === 401)!;
    expect(rig.discord.requestsAfter(refused.seq).filter((r) => r.path.includes(handle.token))).toEqual([]);
    expect(rig.restarts).toBe(1);
  });

  it('GIVEN one job killed at the task id, mid-download and mid-upload in turn THEN three restarts still give one video and one charge', async () => {
    rig = await CrashRig.start();
    let bot = await rig.spawnReady();
    rig.kie.autoComplete = null;
    rig.kie.holdFileBodies = true;
    const isUpload = (r: RecordedRequest) =>
      r.method === 'PATCH' && r.path.endsWith('/messages/@original') && r.files.length > 0;
    rig.discord.holdResponses(isUpload);
    const { handle, jobId } = await prompt(bot, 'three lighthouses in fog');
    const taskId = (await rig.kie.waitFor(isGenerate)).taskId!;
    await rig.kie.waitFor((r) => r.path === '/api/v1/veo/record-info' && r.query.taskId === taskId);
    await bot.kill('SIGKILL');

    bot = await rig.spawnReady();
    rig.kie.completeTask(taskId);
    await rig.kie.waitFor((r) => r.path === `/files/${taskId}.mp4`);
    await bot.kill('SIGKILL');
    rig.kie.holdFileBodies = false;

    bot = await rig.spawnReady();
    await rig.discord.waitForRequest(isUpload, { afterSeq: handle.seq });
    await bot.kill('SIGKILL');

    bot = await rig.spawnReady();
    await bot.waitForLog(delivered(jobId));
    await stopGracefully(bot);

    const { job, remaining } = await rig.readStore(jobId);
    expect(job?.state).toBe('delivered');
    expect(remaining).toBe(4);
    expect(rig.kie.generateRequests()).toHaveLength(1);
    expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
    expect(rig.restarts).toBe(3);
  });
});
