import { afterEach, describe, expect, it } from 'vitest';
import { t } from '../../src/i18n/index.js';
import { zhCN } from '../../src/i18n/zh-CN.js';
import type { JobRecord } from '../../src/services/jobs/record.js';
import { MANAGER_PERMISSIONS, OPTION } from './helpers/commands.js';
import {
  bodyOf,
  isCallback,
  isOriginalEdit,
  startHarness,
  type Harness,
  type HarnessOptions,
} from './helpers/harness.js';
import type { InteractionHandle, RecordedRequest } from './helpers/loopbackDiscord.js';

const EPHEMERAL = 64;
const OTHER_MEMBER = '900000000000000077';

/** A clock the test can move forward; the loopback servers keep real time. */
function movableClock() {
  return {
    offset: 0,
    now(): number {
      return Date.now() + this.offset;
    },
  };
}

function dataOf(r: RecordedRequest): Record<string, unknown> {
  return (bodyOf(r).data ?? {}) as Record<string, unknown>;
}

function isWebhookFollowUp(r: RecordedRequest, token: string): boolean {
  return r.method === 'POST' && r.path.includes('/webhooks/') && r.path.endsWith(`/${token}`);
}

describe('result actions, languages and private jobs (real client, loopback Discord and kie, SQLite)', () => {
  let h: Harness;

  async function start(options: HarnessOptions = {}): Promise<Harness> {
    h = await startHarness(options);
    return h;
  }

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  async function prompt(
    text: string,
    extra: { locale?: string; isPrivate?: boolean; userId?: string; seed?: number } = {},
  ) {
    const options: { name: string; type: number; value: string | number | boolean }[] = [
      { name: 'prompt', type: OPTION.string, value: text },
    ];
    if (extra.isPrivate) options.push({ name: 'private', type: OPTION.boolean, value: true });
    if (extra.seed !== undefined) options.push({ name: 'seed', type: OPTION.integer, value: extra.seed });
    return h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options,
      ...(extra.locale ? { locale: extra.locale } : {}),
      ...(extra.userId ? { userId: extra.userId } : {}),
    });
  }

  async function delivered(handle: InteractionHandle): Promise<JobRecord> {
    return h.job(handle.interactionId, (j) => j.state === 'delivered');
  }

  /** The callback that answered an interaction. */
  function answerOf(handle: InteractionHandle): Promise<RecordedRequest> {
    return h.discord.waitForRequest((r) => isCallback(r, handle.interactionId), { afterSeq: handle.seq });
  }

  it('GIVEN a zh-CN member THEN the status, the result and its buttons are in Chinese', async () => {
    await start();
    const handle = await prompt('一只红狐狸在雪地里奔跑', { locale: 'zh-CN', seed: 12345 });
    const done = await delivered(handle);
    expect(done.locale).toBe('zh-CN');
    const edits = h.discord.requestsAfter(handle.seq).filter((r) => isOriginalEdit(r, handle.token));
    const status = bodyOf(edits[0]!);
    expect(String(status.content)).toMatch(/^🎬 正在用 veo3_fast（16:9）生成，开始于<t:\d+:R>。$/);
    const statusFields = JSON.stringify(status.embeds);
    expect(statusFields).toContain('"name":"模型"');
    expect(statusFields).toContain('"name":"种子","value":"12345"');
    expect(statusFields).toContain('"name":"开始时间"');
    const final = bodyOf(edits.at(-1)!);
    expect(String(final.content)).toBe('✅ 你的视频已完成。');
    expect(JSON.stringify(final.embeds)).toContain('剩余 4/5 个单位');
    const labels = JSON.stringify(final.components);
    for (const key of ['button.hd', 'button.rerun', 'button.extend', 'button.details', 'button.open'] as const) {
      expect(labels).toContain(`"label":"${zhCN[key]}"`);
    }

    // A second job of the same model now has a recent duration: its status says when it is expected.
    const second = await prompt('第二个视频', { locale: 'zh-CN' });
    await delivered(second);
    const secondStatus = h.discord.requestsAfter(second.seq).find((r) => isOriginalEdit(r, second.token))!;
    expect(JSON.stringify(bodyOf(secondStatus).embeds)).toMatch(
      /"name":"预计完成","value":"<t:\d+:R>（最近的视频约需 \d+ 秒）"/,
    );

    // The Details answer is in the clicker's language, whatever the requester's.
    const details = await h.discord.buttonClick({
      customId: `veo:details:${done.id}`,
      messageId: done.messageId!,
      userId: OTHER_MEMBER,
    });
    const detailsAnswer = await answerOf(details);
    expect(bodyOf(detailsAnswer).type).toBe(4);
    expect(Number(dataOf(detailsAnswer).flags) & EPHEMERAL).toBe(EPHEMERAL);
    const detailsText = JSON.stringify(dataOf(detailsAnswer).embeds);
    expect(detailsText).toContain('"title":"Video details"');
    expect(detailsText).toContain(`\`${done.taskId!}\``);
    expect(detailsText).toContain('一只红狐狸在雪地里奔跑');
  });

  it('GIVEN a result THEN Rerun by the requester makes and delivers a new job with a new seed, charged like any job', async () => {
    await start();
    const handle = await prompt('a lighthouse in a storm', { seed: 12345 });
    const done = await delivered(handle);
    const click = await h.discord.buttonClick({ customId: `veo:rerun:${done.id}`, messageId: done.messageId! });
    const defer = await answerOf(click);
    expect(bodyOf(defer).type).toBe(5);
    expect(Number(dataOf(defer).flags ?? 0) & EPHEMERAL).toBe(0);
    const rerun = await h.job(click.interactionId, (j) => j.state === 'delivered');
    expect(rerun.id).not.toBe(done.id);
    expect(rerun.options.prompt).toBe(done.options.prompt);
    expect(rerun.options.seed).toBeGreaterThanOrEqual(10_000);
    expect(rerun.options.seed).toBeLessThanOrEqual(99_999);

    const generates = h.kie.generateRequests();
    expect(generates).toHaveLength(2);
    const { seeds: firstSeed, ...firstRest } = generates[0]!.json as Record<string, unknown>;
    const { seeds: secondSeed, ...secondRest } = generates[1]!.json as Record<string, unknown>;
    expect(firstSeed).toBe(12345);
    expect(secondSeed).toBe(rerun.options.seed);
    expect(secondRest).toEqual(firstRest);

    const final = h.discord
      .requestsAfter(click.seq)
      .filter((r) => isOriginalEdit(r, click.token))
      .at(-1)!;
    expect(final.files[0]!.fileName).toBe(`veo-${rerun.id}.mp4`);
    const status = await h.bot.quota.status({ guildId: h.discord.guild.id, userId: h.discord.userId });
    expect(status.remaining).toBe(3);
  });

  it('GIVEN a result THEN Extend opens a 2000-character modal and its submit extends the task on kie and delivers the full video', async () => {
    await start();
    const handle = await prompt('a paper boat on a river', { locale: 'zh-CN' });
    const done = await delivered(handle);
    const click = await h.discord.buttonClick({
      customId: `veo:extend:${done.id}`,
      messageId: done.messageId!,
      locale: 'zh-CN',
    });
    const modal = await answerOf(click);
    expect(bodyOf(modal).type).toBe(9);
    const modalData = dataOf(modal);
    expect(modalData.custom_id).toBe(`veo:extendm:${done.id}`);
    expect(modalData.title).toBe(zhCN['extend.title']);
    expect(JSON.stringify(modalData.components)).toContain('"max_length":2000');
    expect(h.kie.extendRequests()).toHaveLength(0);

    const submit = await h.discord.modalSubmit({
      customId: `veo:extendm:${done.id}`,
      messageId: done.messageId!,
      fields: { prompt: '  the boat drifts into a waterfall  ' },
      locale: 'zh-CN',
    });
    const defer = await answerOf(submit);
    expect(bodyOf(defer).type).toBe(5);
    const extended = await h.job(submit.interactionId, (j) => j.state === 'delivered');
    expect(extended.options.extend).toMatchObject({ jobId: done.id, taskId: done.taskId });

    const extends_ = h.kie.extendRequests();
    expect(extends_).toHaveLength(1);
    expect(extends_[0]!.json).toEqual({
      taskId: done.taskId,
      prompt: 'the boat drifts into a waterfall',
      model: 'fast',
    });
    expect(h.kie.generateRequests()).toHaveLength(1);
    // The stitched video (fullResultUrls[0]) is the one delivered.
    expect(extended.resultUrls[0]).toMatch(/-full\.mp4$/);
    const edits = h.discord.requestsAfter(submit.seq).filter((r) => isOriginalEdit(r, submit.token));
    expect(String(bodyOf(edits[0]!).content)).toContain('正在用 veo3_fast 延长视频');
    expect(edits.at(-1)!.files[0]!.fileName).toBe(`veo-${extended.id}.mp4`);
    // Charged at the original model's cost: one unit for Fast, like the first video.
    const status = await h.bot.quota.status({ guildId: h.discord.guild.id, userId: h.discord.userId });
    expect(status.remaining).toBe(3);
  });

  it('GIVEN another member THEN Rerun and Extend are refused ephemerally, while a Manage Server member may rerun', async () => {
    await start();
    const handle = await prompt('a cat on a piano');
    const done = await delivered(handle);

    const rerun = await h.discord.buttonClick({
      customId: `veo:rerun:${done.id}`,
      messageId: done.messageId!,
      userId: OTHER_MEMBER,
    });
    const refusal = await answerOf(rerun);
    expect(bodyOf(refusal).type).toBe(4);
    expect(Number(dataOf(refusal).flags) & EPHEMERAL).toBe(EPHEMERAL);
    expect(String(dataOf(refusal).content)).toBe(t('en-US', 'action.not_yours', { user: done.requesterId }));
    expect(dataOf(refusal).allowed_mentions).toEqual({ parse: [] });

    const extend = await h.discord.buttonClick({
      customId: `veo:extend:${done.id}`,
      messageId: done.messageId!,
      userId: OTHER_MEMBER,
      locale: 'zh-CN',
    });
    const extendRefusal = await answerOf(extend);
    expect(bodyOf(extendRefusal).type).toBe(4); // refused before any modal
    expect(String(dataOf(extendRefusal).content)).toContain('只有制作这个视频的');
    expect(h.kie.generateRequests()).toHaveLength(1);
    const other = await h.bot.quota.status({ guildId: h.discord.guild.id, userId: OTHER_MEMBER });
    expect(other.remaining).toBe(5);

    const manager = await h.discord.buttonClick({
      customId: `veo:rerun:${done.id}`,
      messageId: done.messageId!,
      userId: OTHER_MEMBER,
      memberPermissions: MANAGER_PERMISSIONS,
    });
    const managed = await h.job(manager.interactionId, (j) => j.state === 'delivered');
    expect(managed.requesterId).toBe(OTHER_MEMBER); // a new job, charged to the one who asked for it
    expect((await h.bot.quota.status({ guildId: h.discord.guild.id, userId: OTHER_MEMBER })).remaining).toBe(4);
  });

  it('GIVEN an upgraded video THEN Extend is refused with the reason', async () => {
    await start();
    const handle = await prompt('a windmill at sunset');
    const done = await delivered(handle);
    const hd = await h.discord.buttonClick({ customId: `veo:hd:${done.id}`, messageId: done.messageId! });
    await h.discord.waitForRequest((r) => isOriginalEdit(r, hd.token) && r.files.length === 1, { afterSeq: hd.seq });
    const click = await h.discord.buttonClick({ customId: `veo:extend:${done.id}`, messageId: done.messageId! });
    const refusal = await answerOf(click);
    expect(bodyOf(refusal).type).toBe(4);
    expect(String(dataOf(refusal).content)).toBe(t('en-US', 'action.extend_hd'));
    expect(h.kie.extendRequests()).toHaveLength(0);
  });

  it('GIVEN private: true THEN the defer, status, result, mention, 1080P and a rerun are all ephemeral, with no public post', async () => {
    const clock = movableClock();
    await start({ clock });
    h.kie.autoComplete = null;
    const handle = await prompt('a secret garden', { isPrivate: true });
    const defer = await answerOf(handle);
    expect(bodyOf(defer).type).toBe(5);
    expect(Number(dataOf(defer).flags) & EPHEMERAL).toBe(EPHEMERAL);
    // The job now "took" over a minute, so delivery adds the one mention (ephemeral for a private job).
    const generating = await h.job(handle.interactionId, (j) => j.state === 'generating');
    clock.offset = 70_000;
    h.kie.completeTask(generating.taskId!);
    h.kie.autoComplete = { afterReads: 1, outcome: 'success' };
    const done = await delivered(handle);
    const mention = await h.discord.waitForRequest((r) => isWebhookFollowUp(r, handle.token), { afterSeq: handle.seq });
    expect(Number(bodyOf(mention).flags) & EPHEMERAL).toBe(EPHEMERAL);
    expect(String(bodyOf(mention).content)).toContain(`<@${done.requesterId}>`);
    expect(h.discord.originalMessage(handle.token)?.ephemeral).toBe(true);
    expect(h.discord.originalMessage(handle.token)?.attachments).toHaveLength(1);

    const hd = await h.discord.buttonClick({ customId: `veo:hd:${done.id}`, messageId: done.messageId! });
    const hdDefer = await answerOf(hd);
    expect(Number(dataOf(hdDefer).flags) & EPHEMERAL).toBe(EPHEMERAL);
    await h.discord.waitForRequest((r) => isOriginalEdit(r, hd.token) && r.files.length === 1, { afterSeq: hd.seq });

    const rerun = await h.discord.buttonClick({ customId: `veo:rerun:${done.id}`, messageId: done.messageId! });
    const rerunDefer = await answerOf(rerun);
    expect(Number(dataOf(rerunDefer).flags) & EPHEMERAL).toBe(EPHEMERAL);
    await h.job(rerun.interactionId, (j) => j.state === 'delivered');

    const publicWrites = h.discord.requests.filter(
      (r) => r.path.startsWith('/channels/') && (r.method === 'POST' || r.method === 'PATCH'),
    );
    expect(publicWrites).toEqual([]);
    const visible = h.discord.channelMessages(h.discord.guild.channelId).filter((m) => !m.ephemeral);
    expect(visible).toEqual([]);
  });

  it('GIVEN past jobs THEN /veo jobs lists them newest first with state, age and links, refreshing links older than a day', async () => {
    const clock = movableClock();
    await start({ clock });
    const first = await delivered(await prompt('an old video'));
    const second = await delivered(await prompt('a newer video', { isPrivate: true }));
    await h.bot.jobs.update(second.id, (j) => ({ ...j, state: 'undeliverable' }));
    clock.offset = 2 * 24 * 60 * 60_000;
    const readsBefore = h.kie.requests.filter((r) => r.path === '/api/v1/veo/record-info').length;

    const handle = await h.discord.slashCommand({ name: 'veo', subcommand: 'jobs' });
    const defer = await answerOf(handle);
    expect(bodyOf(defer).type).toBe(5);
    expect(Number(dataOf(defer).flags) & EPHEMERAL).toBe(EPHEMERAL);
    const edit = await h.discord.waitForRequest((r) => isOriginalEdit(r, handle.token), { afterSeq: handle.seq });
    const description = (bodyOf(edit).embeds as { description: string }[])[0]!.description;
    const [newest, oldest] = description.split('\n');
    expect(newest).toContain('**Made, not delivered**');
    expect(newest).not.toContain('[message]'); // a private job's message cannot be opened by a link
    expect(newest).toContain(`[video](${second.resultUrls[0]!})`);
    expect(oldest).toContain('**Delivered**');
    expect(oldest).toContain(
      `[message](https://discord.com/channels/${h.discord.guild.id}/${first.channelId}/${first.messageId!})`,
    );
    expect(oldest).toMatch(/<t:\d+:R>/);
    const reads = h.kie.requests.filter((r) => r.path === '/api/v1/veo/record-info').slice(readsBefore);
    expect(reads.map((r) => r.query.taskId).sort()).toEqual([first.taskId, second.taskId].sort());
  });
});
