import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deployCommands } from '../../src/deploy-commands.js';
import { loadDeployConfig } from '../../src/config.js';
import { checkCommandNames } from './helpers/discordSchemas.js';
import { bodyOf, isCallback, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';
import type { RecordedRequest } from './helpers/loopbackDiscord.js';
import { MANAGER_PERMISSIONS } from './helpers/commands.js';

const STRING = 3;
const EPHEMERAL = 64;

describe('/veo prompt end to end (real discord.js client, loopback Discord and kie, SQLite)', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
  });

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  function prompt(
    text: string,
    extra: {
      userId?: string;
      attachmentSizeLimit?: number;
      options?: { name: string; type: number; value: string | number | boolean }[];
    } = {},
  ) {
    return h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: STRING, value: text }, ...(extra.options ?? [])],
      ...(extra.userId ? { userId: extra.userId } : {}),
      ...(extra.attachmentSizeLimit ? { attachmentSizeLimit: extra.attachmentSizeLimit } : {}),
    });
  }

  it('registers the commands with a body Discord accepts, guild and global', async () => {
    const base = {
      DISCORD_TOKEN: h.discord.botToken,
      DISCORD_APPLICATION_ID: h.discord.applicationId,
      DISCORD_API_BASE_URL: h.discord.apiBase,
    };
    const global = await deployCommands(loadDeployConfig(base));
    expect(global.count).toBe(2); // /veo and /veo-admin
    const globalPut = await h.discord.waitForRequest(
      (r) => r.method === 'PUT' && r.path === `/applications/${h.discord.applicationId}/commands`,
    );
    expect(globalPut.violations).toEqual([]);
    expect(checkCommandNames(globalPut.body)).toEqual([]);
    const [veo] = globalPut.body as Record<string, unknown>[];
    expect(veo).toMatchObject({ name: 'veo', integration_types: [0], contexts: [0] });
    const promptOption = JSON.stringify(veo);
    expect(promptOption).toContain('"max_length":2000');

    await deployCommands(loadDeployConfig({ ...base, DEV_GUILD_ID: h.discord.guild.id }));
    const guildPut = await h.discord.waitForRequest(
      (r) => r.method === 'PUT' && r.path.includes(`/guilds/${h.discord.guild.id}/commands`),
    );
    expect(guildPut.violations).toEqual([]);
    const [guildVeo] = guildPut.body as Record<string, unknown>[];
    expect(guildVeo).not.toHaveProperty('integration_types');
    expect(guildVeo).not.toHaveProperty('contexts');
  });

  it('defers first, edits the status, then attaches the mp4 with a 1080P and a link button', async () => {
    const handle = await prompt('a red fox running through fresh snow at dawn', {
      options: [
        { name: 'aspect', type: STRING, value: '9:16' },
        { name: 'seed', type: 4, value: 12345 },
      ],
    });
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');

    const after = h.discord.requestsAfter(handle.seq).filter((r) => r.method !== 'GATEWAY');
    const first = after[0]!;
    expect(isCallback(first, handle.interactionId)).toBe(true);
    expect(bodyOf(first).type).toBe(5);
    expect(first.query.with_response).toBe('true');

    const edits = after.filter((r) => isOriginalEdit(r, handle.token));
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(String(bodyOf(edits[0]!).content)).toContain('Generating with veo3_fast (9:16)');
    expect(String(bodyOf(edits[0]!).content)).toMatch(/<t:\d+:R>/);
    const final = edits.at(-1)!;
    expect(final.files).toHaveLength(1);
    expect(final.files[0]!.fileName).toBe(`veo-${done.id}.mp4`);
    const task = h.kie.tasks.get(done.taskId!)!;
    expect(final.files[0]!.size).toBe(64 * 1024);
    expect(String(bodyOf(final).content)).toContain('Your video is ready');
    const buttons = JSON.stringify(bodyOf(final).components);
    expect(buttons).toContain(`"custom_id":"veo:hd:${done.id}"`);
    expect(buttons).toContain(`"url":"${task.resultUrls[0]}"`);

    const generates = h.kie.generateRequests();
    expect(generates).toHaveLength(1);
    expect(generates[0]!.json).toEqual({
      prompt: 'a red fox running through fresh snow at dawn',
      model: 'veo3_fast',
      aspect_ratio: '9:16',
      seeds: 12345,
      enableTranslation: true,
      generationType: 'TEXT_2_VIDEO',
    });
    expect(generates[0]!.headers['user-agent']).toMatch(/^VeoBot\//);

    const status = await h.bot.quota.status({ guildId: h.discord.guild.id, userId: done.requesterId });
    expect(status.remaining).toBe(4);
    expect(done.interaction.token).toBeNull();
    expect(done.messageId).toBe(h.discord.originalMessage(handle.token)?.id);
    expect(h.discord.originalMessage(handle.token)?.attachments[0]?.size).toBe(64 * 1024);
    const transitions = h.logs.filter((l) => l.message === 'job transition' && l.fields.jobId === done.id);
    expect(transitions.map((l) => l.fields.to)).toEqual(['submitting', 'generating', 'delivering', 'delivered']);
    for (const line of h.logs) expect(JSON.stringify(line)).not.toContain('red fox');
  });

  it('refuses a prompt over 2000 characters ephemerally, with no kie call and no charge', async () => {
    const handle = await prompt('x'.repeat(2001));
    const reply = await h.discord.waitForRequest((r) => isCallback(r, handle.interactionId), { afterSeq: handle.seq });
    expect(bodyOf(reply).type).toBe(4);
    const data = bodyOf(reply).data as Record<string, unknown>;
    expect(Number(data.flags) & EPHEMERAL).toBe(EPHEMERAL);
    expect(String(data.content)).toContain('2001 characters; the limit is 2000');
    expect(h.kie.requests.filter((r) => r.path.includes('/veo/'))).toEqual([]);
    const status = await h.bot.quota.status({ guildId: h.discord.guild.id, userId: h.discord.userId });
    expect(status.remaining).toBe(5);
  });

  it('shows a failed generation with its reason and refunds it', async () => {
    h.kie.autoComplete = {
      afterReads: 1,
      outcome: { errorCode: 400, errorMessage: 'Your prompt was flagged by Website as violating content policies.' },
    };
    const handle = await prompt('something the service refuses');
    const failed = await h.job(
      handle.interactionId,
      (j) => j.state === 'failed' && j.refunded && j.noticePending !== true,
    );
    expect(failed.failure?.reason).toBe('content_policy');
    const edit = await h.discord.waitForRequest(
      (r) => isOriginalEdit(r, handle.token) && String(bodyOf(r).content).includes('could not be made'),
      { afterSeq: handle.seq },
    );
    expect(String(bodyOf(edit).content)).toContain('flagged by Website as violating content policies');
    expect(String(bodyOf(edit).content)).toContain('1 unit(s) returned to you');
    const status = await h.bot.quota.status({ guildId: h.discord.guild.id, userId: failed.requesterId });
    expect(status.remaining).toBe(5);
  });

  it('1080P: two "processing" answers then ready; a second click meanwhile is told it is on its way', async () => {
    const handle = await prompt('a lighthouse in a storm');
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    h.kie.setHdScript(done.taskId!, ['processing-400', 'processing-422', 'ready']);
    const messageId = done.messageId!;

    // The requester clicks; then a member with Manage Server (the only others allowed to spend on it).
    const click = await h.discord.buttonClick({ customId: `veo:hd:${done.id}`, messageId });
    const defer = await h.discord.waitForRequest((r) => isCallback(r, click.interactionId), { afterSeq: click.seq });
    expect(bodyOf(defer).type).toBe(5);

    const second = await h.discord.buttonClick({
      customId: `veo:hd:${done.id}`,
      messageId,
      userId: '900000000000000002',
      memberPermissions: MANAGER_PERMISSIONS,
    });
    const already = await h.discord.waitForRequest((r) => isCallback(r, second.interactionId), {
      afterSeq: second.seq,
    });
    expect(bodyOf(already).type).toBe(4);
    expect(String((bodyOf(already).data as Record<string, unknown>).content)).toContain('already being prepared');

    const hdEdit: RecordedRequest = await h.discord.waitForRequest(
      (r) => isOriginalEdit(r, click.token) && r.files.length === 1,
      {
        afterSeq: click.seq,
      },
    );
    expect(hdEdit.files[0]!.fileName).toBe(`veo-${done.id}-1080p.mp4`);
    const hdCalls = h.kie.requests.filter((r) => r.path === '/api/v1/veo/get-1080p-video');
    expect(hdCalls).toHaveLength(3);
    expect(hdCalls.every((r) => r.query.taskId === done.taskId && r.query.index === '0')).toBe(true);
    const after = await h.job(handle.interactionId, (j) => j.hd?.state === 'ready');
    expect(after.hd?.url).toContain('1080p');

    const third = await h.discord.buttonClick({ customId: `veo:hd:${done.id}`, messageId });
    const link = await h.discord.waitForRequest((r) => isCallback(r, third.interactionId), { afterSeq: third.seq });
    expect(String((bodyOf(link).data as Record<string, unknown>).content)).toContain(after.hd!.url!);
    expect(h.kie.requests.filter((r) => r.path === '/api/v1/veo/get-1080p-video')).toHaveLength(3);
  });

  it('sends a link instead of the file when the video exceeds attachment_size_limit', async () => {
    const handle = await prompt('a very detailed city at night', { attachmentSizeLimit: 16 * 1024 });
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    const final = h.discord
      .requestsAfter(handle.seq)
      .filter((r) => isOriginalEdit(r, handle.token))
      .at(-1)!;
    expect(final.files).toEqual([]);
    expect(String(bodyOf(final).content)).toContain('larger than this channel allows (16 KiB)');
    expect(String(bodyOf(final).content)).toContain(done.resultUrls[0]!);
    expect(h.discord.originalMessage(handle.token)?.attachments).toEqual([]);
  });
});
