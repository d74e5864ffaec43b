import { messageLink, PermissionFlagsBits } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { enUS } from '../../src/i18n/en-US.js';
import { zhCN } from '../../src/i18n/zh-CN.js';
import type { JobRecord } from '../../src/services/jobs/record.js';
import { ephemeralText, MANAGER_PERMISSIONS, OPTION, prompt, quota } from './helpers/commands.js';
import { bodyOf, isCallback, startHarness, type Harness } from './helpers/harness.js';
import { DEFAULT_BOT_PERMISSIONS, type InteractionHandle, type RecordedRequest } from './helpers/loopbackDiscord.js';

const EPHEMERAL = 64;
const OTHER_MEMBER = '900000000000000077';

type Json = Record<string, unknown>;

function dataOf(r: RecordedRequest): Json {
  return (bodyOf(r).data ?? {}) as Json;
}

/** The select menus and buttons of a message body, flattened: custom_id -> component. */
function componentsOf(data: Json): Map<string, Json> {
  const rows = (data.components ?? []) as { components: Json[] }[];
  return new Map(rows.flatMap((row) => row.components).map((c) => [String(c.custom_id), c]));
}

function chosen(component: Json | undefined): string[] {
  return ((component?.options ?? []) as Json[]).filter((o) => o.default === true).map((o) => String(o.value));
}

describe('community controls end to end: /veo settings, /veo-admin filter and log-channel (real client, loopbacks, SQLite)', () => {
  let h: Harness;

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  /** The callback that answered an interaction. */
  function answerOf(handle: InteractionHandle): Promise<RecordedRequest> {
    return h.discord.waitForRequest((r) => isCallback(r, handle.interactionId), { afterSeq: handle.seq });
  }

  async function delivered(handle: InteractionHandle): Promise<JobRecord> {
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    // The ledger closes the job just after the record says delivered; the next job must not count it.
    const scope = { guildId: done.guildId, userId: done.requesterId };
    for (let i = 0; i < 400 && (await h.bot.quota.status(scope)).activeJobs > 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    return done;
  }

  function lastGenerate(): Json {
    return h.kie.generateRequests().at(-1)?.json as Json;
  }

  it('/veo settings: veo3_lite and 9:16 chosen -> the next /veo prompt without options sends both; an option still wins; private; forget', async () => {
    h = await startHarness();
    const open = await h.discord.slashCommand({ name: 'veo', subcommand: 'settings' });
    const shown = await answerOf(open);
    expect(bodyOf(shown).type).toBe(4);
    expect(Number(dataOf(shown).flags) & EPHEMERAL).toBe(EPHEMERAL);
    expect(dataOf(shown).content).toBe(
      [
        enUS['settings.title'],
        'Model: veo3_fast (bot default)',
        'Aspect: each command’s own: 16:9, or Auto for pictures (bot default)',
        'Private: no, the channel sees them (bot default)',
      ].join('\n'),
    );
    const controls = componentsOf(dataOf(shown));
    expect([...controls.keys()]).toEqual([
      'veo:settings:model',
      'veo:settings:aspect',
      'veo:settings:private',
      'veo:settings:forget',
    ]);
    expect(controls.get('veo:settings:forget')).toMatchObject({ type: 2, style: 4, disabled: true });
    expect(chosen(controls.get('veo:settings:model'))).toEqual(['default']);
    const settingsMessage = h.discord.originalMessage(open.token)!.id;

    const pick = async (control: string, value: string): Promise<Json> => {
      const choice = await h.discord.selectMenu({
        customId: `veo:settings:${control}`,
        messageId: settingsMessage,
        values: [value],
      });
      const update = await answerOf(choice);
      expect(bodyOf(update).type).toBe(7);
      return dataOf(update);
    };
    const afterModel = await pick('model', 'veo3_lite');
    expect(afterModel.content).toContain('Model: veo3_lite\n');
    expect(afterModel.content).toMatch(/✅ Saved\.$/);
    expect(chosen(componentsOf(afterModel).get('veo:settings:model'))).toEqual(['veo3_lite']);
    expect(componentsOf(afterModel).get('veo:settings:forget')).toMatchObject({ disabled: false });
    const afterAspect = await pick('aspect', '9:16');
    expect(afterAspect.content).toContain('Model: veo3_lite\nAspect: 9:16\n');
    // The same message was edited in place: the member sees one settings message.
    expect(h.discord.originalMessage(open.token)!.content).toContain('Aspect: 9:16');

    await delivered(await prompt(h, 'a lighthouse in a storm'));
    expect(lastGenerate()).toMatchObject({
      prompt: 'a lighthouse in a storm',
      model: 'veo3_lite',
      aspect_ratio: '9:16',
    });
    // Defaults are the member's own: another member gets the bot's.
    await delivered(await prompt(h, 'a meadow at noon', { userId: OTHER_MEMBER }));
    expect(lastGenerate()).toMatchObject({ model: 'veo3_fast', aspect_ratio: '16:9' });
    // An option given always wins over the default.
    const fast = { name: 'model', type: OPTION.string, value: 'veo3_fast' };
    await delivered(await prompt(h, 'a harbour at dusk', { options: [fast] }));
    expect(lastGenerate()).toMatchObject({ model: 'veo3_fast', aspect_ratio: '9:16' });

    await pick('private', 'private');
    const privately = await prompt(h, 'a secret garden');
    const defer = await answerOf(privately);
    expect(bodyOf(defer).type).toBe(5);
    expect(Number(dataOf(defer).flags) & EPHEMERAL).toBe(EPHEMERAL);
    expect((await delivered(privately)).private).toBe(true);

    const zh = await h.discord.slashCommand({ name: 'veo', subcommand: 'settings', locale: 'zh-CN' });
    expect(dataOf(await answerOf(zh)).content).toBe(
      [zhCN['settings.title'], '模型：veo3_lite', '画面比例：9:16', `仅自己可见：${zhCN['settings.yes']}`].join('\n'),
    );

    const forget = await h.discord.buttonClick({ customId: 'veo:settings:forget', messageId: settingsMessage });
    const forgotten = await answerOf(forget);
    expect(bodyOf(forgotten).type).toBe(7);
    expect(dataOf(forgotten).content).toContain('Model: veo3_fast (bot default)');
    expect(dataOf(forgotten).content).toMatch(/🗑️ Your defaults were deleted; the bot’s defaults apply again\.$/);
    await delivered(await prompt(h, 'a lighthouse in the sun'));
    expect(lastGenerate()).toMatchObject({ model: 'veo3_fast', aspect_ratio: '16:9' });
  });

  it('filter: a listed word refused before the defer in both languages, no kie call, no charge; the word inside another word accepted; Extend and Rerun refused too', async () => {
    // Room for exactly two fast videos: a refusal that kept its credit reservation would refuse the last job.
    h = await startHarness({ env: { DAILY_CREDIT_BUDGET: '120' } });
    const filter = (subcommand: string, value?: string, locale?: string) =>
      h.discord.slashCommand({
        name: 'veo-admin',
        group: 'filter',
        subcommand,
        options: value === undefined ? [] : [{ name: 'words', type: OPTION.string, value }],
        memberPermissions: MANAGER_PERMISSIONS,
        ...(locale ? { locale } : {}),
      });
    expect(await ephemeralText(h, await filter('add', 'cat, Crème  Brûlée ,猫'))).toBe(
      `✅ 3 added to this server’s filter; 3 of 200 entries in use.\n${enUS['admin.filter_hint']}`,
    );
    expect(await ephemeralText(h, await filter('add', 'CAT，长颈鹿', 'zh-CN'))).toBe(
      `✅ 已向本服务器的屏蔽列表添加 1 项；已使用 4/200 项。\n1 项已在列表中。\n${zhCN['admin.filter_hint']}`,
    );
    expect(await ephemeralText(h, await filter('add', `dog, ${'x'.repeat(61)}`))).toBe(
      `Each entry may be at most 60 characters; “${'x'.repeat(23)}…” has 61. Nothing was changed.`,
    );
    expect(await ephemeralText(h, await filter('add', ' , '))).toBe(enUS['admin.filter_no_words']);
    expect(await ephemeralText(h, await filter('list'))).toBe(
      [
        '**Blocked words and phrases here (4 of 200)**',
        'cat · Crème Brûlée · 猫 · 长颈鹿',
        '',
        enUS['admin.filter_hint'],
      ].join('\n'),
    );

    // Whole words, any case, with or without accents; in Chinese anywhere.
    for (const text of ['A CAT on a hot tin roof', 'creme brulee, for dessert', '一只猫在跳舞', 'cat']) {
      const refused = await prompt(h, text);
      expect(bodyOf(await answerOf(refused)).type).toBe(4);
      expect(await ephemeralText(h, refused)).toBe(enUS['refusal.filtered']);
    }
    const zh = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: OPTION.string, value: 'the cat sat on the mat' }],
      locale: 'zh-CN',
    });
    expect(await ephemeralText(h, zh)).toBe(zhCN['refusal.filtered']);
    expect(h.kie.generateRequests()).toEqual([]);
    expect(await ephemeralText(h, await quota(h))).toMatch(/^\*\*5 of 5 units left\*\*/);

    const inside = await prompt(h, 'a concatenated scatter plot, catalogued');
    const done = await delivered(inside);
    expect(lastGenerate()).toMatchObject({ prompt: 'a concatenated scatter plot, catalogued' });

    // Rerun sends the old prompt again, Extend a new one: both pass the filter as it is now.
    await ephemeralText(h, await filter('add', 'scatter'));
    const rerun = await h.discord.buttonClick({ customId: `veo:rerun:${done.id}`, messageId: done.messageId! });
    expect(await ephemeralText(h, rerun)).toBe(enUS['refusal.filtered']);
    const extend = await h.discord.modalSubmit({
      customId: `veo:extendm:${done.id}`,
      messageId: done.messageId!,
      fields: { prompt: 'and then a cat walks in' },
    });
    expect(bodyOf(await answerOf(extend)).type).toBe(4);
    expect(dataOf(await answerOf(extend)).content).toBe(enUS['refusal.filtered']);
    expect(h.kie.generateRequests()).toHaveLength(1);
    expect(h.kie.extendRequests()).toEqual([]);

    await delivered(await prompt(h, 'a dog on a beach'));
    expect(h.kie.generateRequests()).toHaveLength(2);
    expect(await ephemeralText(h, await quota(h))).toMatch(/^\*\*3 of 5 units left\*\*/);

    expect(await ephemeralText(h, await filter('remove', 'SCATTER, dog'))).toBe(
      '✅ 1 removed from the filter; 4 of 200 entries in use.\n1 not on the list.',
    );

    // 200 entries at most; a list too long for a message comes as a file.
    const many = Array.from({ length: 196 }, (_, i) => `word${String(i).padStart(3, '0')}`);
    expect(await ephemeralText(h, await filter('add', many.join(', ')))).toContain('196 added');
    expect(await ephemeralText(h, await filter('add', 'one more'))).toBe(
      'The filter holds at most 200 entries; this would make 201. Nothing was changed. Remove some with `/veo-admin filter remove`.',
    );
    const list = await filter('list');
    const listed = await answerOf(list);
    expect(dataOf(listed).content).toContain(
      '**Blocked words and phrases here (200 of 200)**\nThe whole list is attached',
    );
    const [file] = listed.files;
    expect(file?.fileName).toBe('filter.txt');
    expect(file?.bytes.toString('utf8').split('\n').slice(0, 5)).toEqual([
      'cat',
      'Crème Brûlée',
      '猫',
      '长颈鹿',
      'word000',
    ]);
  });

  it('log-channel: refused naming the missing permission; each accepted job mirrored as one message edited to its outcome; a private job shows no prompt; no channel = off', async () => {
    h = await startHarness();
    const { guild, userId } = h.discord;
    const P = PermissionFlagsBits;
    const muted = h.discord.addTextChannel(guild.id, 'muted', DEFAULT_BOT_PERMISSIONS & ~P.SendMessages);
    const plain = h.discord.addTextChannel(guild.id, 'no-embeds', DEFAULT_BOT_PERMISSIONS & ~P.EmbedLinks);
    const log = h.discord.addTextChannel(guild.id, 'veo-log');
    const setLog = (channel?: string, locale?: string) =>
      h.discord.slashCommand({
        name: 'veo-admin',
        subcommand: 'log-channel',
        options: channel === undefined ? [] : [{ name: 'channel', type: OPTION.channel, value: channel }],
        memberPermissions: MANAGER_PERMISSIONS,
        ...(locale ? { locale } : {}),
      });
    expect(await ephemeralText(h, await setLog(muted))).toBe(
      `I cannot use <#${muted}> as the log channel: I am missing Send Messages there. Grant it, or pick another channel. Nothing was changed.`,
    );
    expect(await ephemeralText(h, await setLog(muted, 'zh-CN'))).toBe(
      `我无法把 <#${muted}> 用作日志频道：我在那里缺少发送消息权限。请授予该权限，或换一个频道。没有做任何更改。`,
    );
    expect(await ephemeralText(h, await setLog(plain))).toContain('I am missing Embed Links there.');
    // The test post that came back without its embed was taken down again.
    expect(h.discord.channelMessages(plain)).toEqual([]);

    expect(await ephemeralText(h, await setLog(log))).toBe(enUS['admin.log_channel_set'].replace('{channel}', log));
    expect(h.discord.channelMessages(log).map((m) => m.content)).toEqual([
      `📋 <@${userId}> made this the Veo Bot log channel.`,
    ]);

    const isPost = (r: RecordedRequest) => r.method === 'POST' && r.path === `/channels/${log}/messages`;
    const text = '# Big news **bold** [a link](https://example.com) <@&1>';
    const job = await prompt(h, text);
    const done = await delivered(job);
    const post = await h.discord.waitForRequest(isPost, { afterSeq: job.seq });
    expect(bodyOf(post)).toMatchObject({
      content: `🎬 <@${userId}> is making a video with veo3_fast.`,
      allowed_mentions: { parse: [] },
    });
    const description = String((bodyOf(post).embeds as Json[])[0]?.description);
    expect(description.startsWith('\\#')).toBe(true);
    expect(description).not.toContain('**bold**');
    expect(description).toContain('\\[a link]');
    const mirror = h.discord.channelMessages(log).at(-1)!;
    const edit = await h.discord.waitForRequest(
      (r) => r.method === 'PATCH' && r.path === `/channels/${log}/messages/${mirror.id}`,
      { afterSeq: post.seq },
    );
    expect(bodyOf(edit).content).toBe(`✅ <@${userId}> made a video with veo3_fast: delivered.`);
    const link = messageLink(done.channelId, done.deliveredMessageId ?? done.messageId!, guild.id);
    expect((bodyOf(edit).embeds as Json[])[0]).toMatchObject({ fields: [{ name: 'Job message', value: link }] });
    expect(h.discord.channelMessages(log)).toHaveLength(2);

    const secret = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [
        { name: 'prompt', type: OPTION.string, value: 'my secret birthday surprise' },
        { name: 'private', type: OPTION.boolean, value: true },
      ],
    });
    await delivered(secret);
    const privatePost = await h.discord.waitForRequest(isPost, { afterSeq: secret.seq });
    expect(JSON.stringify(bodyOf(privatePost))).not.toContain('birthday');
    expect((bodyOf(privatePost).embeds as Json[])[0]).toEqual({ description: enUS['mirror.private'], color: 0x5865f2 });
    const privateMirror = h.discord.channelMessages(log).at(-1)!;
    await h.discord.waitForRequest(
      (r) => r.method === 'PATCH' && r.path === `/channels/${log}/messages/${privateMirror.id}`,
      { afterSeq: privatePost.seq },
    );

    // A channel that stops taking posts costs a job nothing: one refused post, then the mirror waits.
    h.discord.setBotPermissions(log, DEFAULT_BOT_PERMISSIONS & ~P.SendMessages);
    const refusedAt = h.discord.requests.at(-1)!.seq;
    await delivered(await prompt(h, 'a quiet pond'));
    await delivered(await prompt(h, 'a quiet lake'));
    const toLog = h.discord.requestsAfter(refusedAt).filter((r) => r.path.startsWith(`/channels/${log}/`));
    expect(toLog.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 403']);
    h.discord.setBotPermissions(log, DEFAULT_BOT_PERMISSIONS);

    expect(await ephemeralText(h, await setLog())).toBe(enUS['admin.log_channel_off']);
    const offAt = h.discord.requests.at(-1)!.seq;
    await delivered(await prompt(h, 'a field of sunflowers'));
    expect(h.discord.requestsAfter(offAt).filter((r) => r.path.startsWith(`/channels/${log}/`))).toEqual([]);
  });
});
