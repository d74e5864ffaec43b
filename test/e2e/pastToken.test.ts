import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JobRecord } from '../../src/services/jobs/record.js';
import { bodyOf, isOriginalEdit, startHarness, type Harness, type HarnessOptions } from './helpers/harness.js';
import type { InteractionHandle, RecordedRequest } from './helpers/loopbackDiscord.js';

const MiB = 1024 * 1024;

/** DESIGN §4 "Past the token": the bot token edits the job message, a new post only when that fails, DMs for private jobs. */
describe('delivery past the interaction token (loopback Discord refuses or outlives it)', () => {
  let h: Harness;
  let offset = 0;
  const clock = { now: () => Date.now() + offset };

  async function start(options: HarnessOptions = {}): Promise<void> {
    offset = 0;
    h = await startHarness({ clock, ...options });
    h.kie.autoComplete = null;
  }

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  /** A job that is generating, its status already shown with the (still good) token. */
  async function generating(
    text: string,
    extra: { private?: boolean } = {},
  ): Promise<{ handle: InteractionHandle; job: JobRecord }> {
    const handle = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [
        { name: 'prompt', type: 3, value: text },
        ...(extra.private ? [{ name: 'private', type: 5, value: true }] : []),
      ],
    });
    const job = await h.job(handle.interactionId, (j) => j.state === 'generating' && j.status !== null);
    await h.discord.waitForRequest(
      (r) => isOriginalEdit(r, handle.token) && String(bodyOf(r).content).includes('Generating'),
      {
        afterSeq: handle.seq,
      },
    );
    return { handle, job };
  }

  const usesToken = (token: string) => (r: RecordedRequest) => r.path.includes(token);
  const channelPosts = (channelId: string) => (r: RecordedRequest) =>
    r.method === 'POST' && r.path === `/channels/${channelId}/messages`;

  function messagesWithVideo(jobId: string) {
    return [...h.discord.messages.values()].filter(
      (m) => !m.deleted && m.attachments.some((a) => a.filename === `veo-${jobId}.mp4`),
    );
  }

  /** The one refused request was the delivery itself (the finished reply with the video); the token is never tried again. */
  function expectTokenNeverUsedAfterRefusal(token: string, jobId: string): void {
    const refused = h.discord.requests.filter((r) => usesToken(token)(r) && r.status === 401);
    expect(refused).toHaveLength(1);
    const [delivery] = refused;
    expect(delivery!.operation).toBe('updateOriginalWebhookMessage');
    expect(delivery!.files.map((f) => f.fileName)).toEqual([`veo-${jobId}.mp4`]);
    expect(String(bodyOf(delivery!).content)).toContain('Your video is ready');
    expect(h.discord.requestsAfter(delivery!.seq).filter(usesToken(token))).toEqual([]);
  }

  it('GIVEN the token is refused (401/50027) at delivery THEN the job message is edited with the bot token and one mention is posted', async () => {
    await start();
    const { handle, job } = await generating('a glass whale in the sky');
    h.discord.expireToken(handle.token);
    h.kie.completeTask(job.taskId!);
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');

    expect(done.interaction.tokenDead).toBe(true);
    expect(done.deliveredMessageId).toBe(job.messageId);
    const after = h.discord.requestsAfter(handle.seq);
    const edit = after.find(
      (r) => r.method === 'PATCH' && r.path === `/channels/${job.channelId}/messages/${job.messageId!}`,
    )!;
    expect(edit.authorization).toBe(`Bot ${h.discord.botToken}`);
    expect(edit.files.map((f) => f.fileName)).toEqual([`veo-${job.id}.mp4`]);
    const mentions = after.filter(channelPosts(job.channelId));
    expect(mentions).toHaveLength(1);
    expect(mentions[0]!.files).toEqual([]);
    expect(String(bodyOf(mentions[0]!).content)).toContain(`<@${job.requesterId}>`);
    expect(String(bodyOf(mentions[0]!).content)).toContain(`/${job.channelId}/${job.messageId!}`);
    expect(bodyOf(mentions[0]!).allowed_mentions).toEqual({ users: [job.requesterId] });
    expect(bodyOf(mentions[0]!).nonce).toBe(`${job.id}-1`);
    expect(bodyOf(mentions[0]!).enforce_nonce).toBe(true);
    expect(messagesWithVideo(job.id).map((m) => m.id)).toEqual([job.messageId]);
    expectTokenNeverUsedAfterRefusal(handle.token, job.id);
    expect((await h.bot.quota.status({ guildId: job.guildId, userId: job.requesterId })).remaining).toBe(4);
  });

  it('GIVEN the token is refused and the bot-token edit too (50013) THEN a new channel message carries the video', async () => {
    await start();
    const { handle, job } = await generating('a tiny dragon in a teacup');
    h.discord.expireToken(handle.token);
    h.discord.failNext(
      { method: 'PATCH', pathIncludes: `/channels/${job.channelId}/messages/` },
      { status: 403, code: 50013, message: 'Missing Permissions' },
    );
    h.kie.completeTask(job.taskId!);
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');

    const posts = h.discord.requestsAfter(handle.seq).filter(channelPosts(job.channelId));
    expect(posts).toHaveLength(1);
    const [post] = posts;
    expect(post!.files.map((f) => f.fileName)).toEqual([`veo-${job.id}.mp4`]);
    expect(String(bodyOf(post!).content)).toMatch(new RegExp(`^<@${job.requesterId}> `));
    expect(bodyOf(post!).allowed_mentions).toEqual({ users: [job.requesterId] });
    expect(bodyOf(post!).nonce).toBe(`${job.id}-1`);
    expect(bodyOf(post!).enforce_nonce).toBe(true);
    const videos = messagesWithVideo(job.id);
    expect(videos).toHaveLength(1);
    expect(done.deliveredMessageId).toBe(videos[0]!.id);
    expect(videos[0]!.id).not.toBe(job.messageId);
    expectTokenNeverUsedAfterRefusal(handle.token, job.id);
  });

  it('GIVEN a private job whose token is refused THEN the video goes by DM, and the channel gets nothing', async () => {
    await start();
    const { handle, job } = await generating('a secret garden at night', { private: true });
    h.discord.expireToken(handle.token);
    h.kie.completeTask(job.taskId!);
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');

    const dm = h.discord.dmChannelId(job.requesterId);
    const after = h.discord.requestsAfter(handle.seq);
    expect(after.filter((r) => r.method === 'POST' && r.path === '/users/@me/channels')).toHaveLength(1);
    const posts = after.filter(channelPosts(dm));
    expect(posts).toHaveLength(1);
    expect(posts[0]!.files.map((f) => f.fileName)).toEqual([`veo-${job.id}.mp4`]);
    expect(bodyOf(posts[0]!).nonce).toBe(`${job.id}-1`);
    expect(after.filter(channelPosts(job.channelId))).toEqual([]);
    expect(after.filter((r) => r.method === 'PATCH' && r.path.startsWith('/channels/'))).toEqual([]);
    expect(messagesWithVideo(job.id).map((m) => m.channel_id)).toEqual([dm]);
    expect(done.deliveredMessageId).toBe(messagesWithVideo(job.id)[0]!.id);
    expectTokenNeverUsedAfterRefusal(handle.token, job.id);
  });

  it('GIVEN a private job whose token is refused and whose DMs are closed (50007) THEN it is undeliverable and stays charged', async () => {
    await start();
    const { handle, job } = await generating('a message in a bottle', { private: true });
    h.discord.expireToken(handle.token);
    h.discord.failNext(
      { method: 'POST', pathIncludes: '/users/@me/channels' },
      { status: 403, code: 50007, message: 'Cannot send messages to this user' },
    );
    h.kie.completeTask(job.taskId!);
    const done = await h.job(handle.interactionId, (j) => j.state === 'undeliverable');

    expect(done.refunded).toBe(false);
    expect(done.interaction.token).toBeNull();
    expect(messagesWithVideo(job.id)).toEqual([]);
    expect((await h.bot.quota.status({ guildId: job.guildId, userId: job.requesterId })).remaining).toBe(4);
    // The runner stores the final state a moment before it logs it.
    await vi.waitFor(() => {
      expect(
        h.logs.some((l) => l.message === 'video exists but could not be delivered' && l.fields.jobId === job.id),
      ).toBe(true);
    });
  });

  it('GIVEN 14 minutes have passed THEN delivery never tries the token and uses the bot token edit plus one mention', async () => {
    await start();
    const { handle, job } = await generating('an old clock tower');
    offset = 14 * 60_000 + 1_000;
    const mark = h.discord.requests.at(-1)!.seq;
    h.kie.completeTask(job.taskId!);
    await h.job(handle.interactionId, (j) => j.state === 'delivered');

    const after = h.discord.requestsAfter(mark);
    expect(after.filter(usesToken(handle.token))).toEqual([]);
    expect(
      after.filter(
        (r) =>
          r.method === 'PATCH' &&
          r.path === `/channels/${job.channelId}/messages/${job.messageId!}` &&
          r.files.length === 1,
      ),
    ).toHaveLength(1);
    expect(after.filter(channelPosts(job.channelId))).toHaveLength(1);
    expect(messagesWithVideo(job.id).map((m) => m.id)).toEqual([job.messageId]);
  });

  it('GIVEN a boost tier 2 server and a 12 MiB video THEN a bot-token edit attaches it (50 MiB) while a DM links it (10 MiB)', async () => {
    await start({
      videoBytes: 12 * MiB,
      discord: {
        guilds: [{ id: '1300000000000000001', name: 'Boosted', channelId: '1300000000000000002', premiumTier: 2 }],
      },
    });
    const pub = await generating('a marching band of robots');
    const priv = await generating('a quiet library', { private: true });
    h.discord.expireToken(pub.handle.token);
    h.discord.expireToken(priv.handle.token);
    h.kie.completeTask(pub.job.taskId!);
    h.kie.completeTask(priv.job.taskId!);
    await h.job(pub.handle.interactionId, (j) => j.state === 'delivered');
    await h.job(priv.handle.interactionId, (j) => j.state === 'delivered');

    const [video] = messagesWithVideo(pub.job.id);
    expect(video?.id).toBe(pub.job.messageId);
    expect(video?.attachments[0]?.size).toBe(12 * MiB);
    const dm = h.discord.dmChannelId(priv.job.requesterId);
    const dmPost = h.discord.requestsAfter(priv.handle.seq).find(channelPosts(dm))!;
    expect(dmPost.files).toEqual([]);
    expect(String(bodyOf(dmPost).content)).toContain('larger than this channel allows (10 MiB)');
    expect(String(bodyOf(dmPost).content)).toContain(`/files/${priv.job.taskId!}.mp4`);
  });
});
