import { PermissionFlagsBits } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { t } from '../../src/i18n/index.js';
import { ephemeralText, OPTION } from './helpers/commands.js';
import { bodyOf, isCallback, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';
import { DEFAULT_BOT_PERMISSIONS } from './helpers/loopbackDiscord.js';

/**
 * The client caches guilds and threads only (DESIGN §2 makeCache); the Send Messages in Threads
 * pre-flight reads `interaction.channel?.isThread()`, which discord.js answers from that cache.
 */
describe('thread pre-flight on the guilds-and-threads cache (real client, loopback Discord and kie, SQLite)', () => {
  let h: Harness;

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  function promptIn(channelId: string, text: string) {
    return h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: OPTION.string, value: text }],
      channelId,
    });
  }

  it('GIVEN the cache THEN it holds the guild and its thread, and no channel, role or member', async () => {
    h = await startHarness();
    const { id, channelId, threadId } = h.discord.guild;
    const { client } = h.bot;
    expect([...client.guilds.cache.keys()]).toEqual([id]);
    expect([...client.channels.cache.keys()]).toEqual([threadId]);
    expect(client.channels.cache.has(channelId)).toBe(false);
    const guild = client.guilds.cache.get(id);
    expect(guild?.roles.cache.size).toBe(0);
    expect(guild?.members.cache.size).toBe(0);
    expect(guild?.channels.cache.size).toBe(0);
  });

  it('GIVEN no Send Messages in Threads WHEN asked in the thread THEN refused naming it; in its channel THEN accepted', async () => {
    h = await startHarness();
    const { channelId, threadId } = h.discord.guild;
    h.discord.setBotPermissions(channelId, DEFAULT_BOT_PERMISSIONS & ~PermissionFlagsBits.SendMessagesInThreads);

    const inThread = await promptIn(threadId!, 'a heron in a thread');
    expect(await ephemeralText(h, inThread)).toBe(
      t('en-US', 'refusal.missing_permissions', { permissions: t('en-US', 'permission.send_messages_in_threads') }),
    );
    expect(h.kie.generateRequests()).toHaveLength(0);

    const inChannel = await promptIn(channelId, 'a heron in the channel');
    const defer = await h.discord.waitForRequest((r) => isCallback(r, inChannel.interactionId), {
      afterSeq: inChannel.seq,
    });
    expect(bodyOf(defer).type).toBe(5);
  });

  it('GIVEN Send Messages in Threads but no Send Messages WHEN asked in the thread THEN the video is posted there', async () => {
    h = await startHarness();
    const { channelId, threadId } = h.discord.guild;
    h.discord.setBotPermissions(channelId, DEFAULT_BOT_PERMISSIONS & ~PermissionFlagsBits.SendMessages);

    const handle = await promptIn(threadId!, 'a heron delivered in a thread');
    const final = await h.discord.waitForRequest((r) => isOriginalEdit(r, handle.token) && r.files.length === 1, {
      afterSeq: handle.seq,
    });
    expect(final.files[0]!.contentType).toBe('video/mp4');
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    expect(done.channelId).toBe(threadId);
  });
});
