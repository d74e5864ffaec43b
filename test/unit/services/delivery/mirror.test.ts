import type { APIMessage } from 'discord.js';
import Keyv from 'keyv';
import { beforeEach, describe, expect, it } from 'vitest';
import { enUS } from '../../../../src/i18n/en-US.js';
import { zhCN } from '../../../../src/i18n/zh-CN.js';
import { JobMirror, mirrorEvent, renderMirror } from '../../../../src/services/delivery/mirror.js';
import type { MessageView, SendOptions } from '../../../../src/services/delivery/rest.js';
import type { JobRecord } from '../../../../src/services/jobs/record.js';
import type { GuildSettings } from '../../../../src/services/quota/guildSettings.js';
import { Codes, discordError, FakeRest } from '../../../helpers/fakeRest.js';
import { makeJob } from '../../../helpers/jobs.js';
import { recordingLogger } from '../../../helpers/logger.js';

const LOG = '555555555555555555';
const GUILD = '222222222222222222';

describe('renderMirror', () => {
  it('GIVEN a public job THEN the requester as a mention, the model, the escaped prompt and the job link', () => {
    const job = makeJob({ options: { ...makeJob().options, prompt: '**loud** [x](https://evil.example)' } });
    const view = renderMirror(job, 'en-US');
    expect(view.content).toBe('🎬 <@111111111111111111> is making a video with veo3_fast.');
    expect(view.allowedMentions).toEqual({ parse: [] });
    expect(view.embeds[0]).toMatchObject({
      description: '\\*\\*loud\\*\\* \\[x](https://evil.example)',
      fields: [
        { name: 'Job message', value: `https://discord.com/channels/${GUILD}/333333333333333333/666666666666666666` },
      ],
    });
  });

  it('GIVEN each outcome THEN its own line, in the log channel’s language; the delivered message is linked', () => {
    const delivered = makeJob({ state: 'delivered', deliveredMessageId: '777777777777777777' });
    expect(renderMirror(delivered, 'en-US').content).toBe(
      '✅ <@111111111111111111> made a video with veo3_fast: delivered.',
    );
    expect(JSON.stringify(renderMirror(delivered, 'en-US').embeds)).toContain('/777777777777777777');
    expect(renderMirror(makeJob({ state: 'failed_unknown' }), 'en-US').content).toContain('failed, refunded');
    expect(renderMirror(makeJob({ state: 'undeliverable' }), 'en-US').content).toContain('could not be delivered');
    expect(renderMirror(delivered, 'zh-CN').content).toBe(
      zhCN['mirror.delivered'].replace('{user}', '<@111111111111111111>').replace('{model}', 'veo3_fast'),
    );
  });

  it('GIVEN a private job THEN neither its prompt nor a link (its message is ephemeral)', () => {
    const view = renderMirror(makeJob({ private: true }), 'en-US');
    expect(JSON.stringify(view)).not.toContain('red fox');
    expect(view.embeds[0]).toEqual({ description: enUS['mirror.private'], color: 0x5865f2 });
  });
});

describe('mirrorEvent', () => {
  it('GIVEN job writes THEN the mirror answers the message appearing and each new final state only', () => {
    const queued = makeJob({ messageId: null });
    const withMessage = { ...queued, messageId: '666666666666666666' };
    const generating: JobRecord = { ...withMessage, state: 'generating' };
    const failed: JobRecord = { ...generating, state: 'failed' };
    expect(mirrorEvent(null, queued)).toBeNull();
    expect(mirrorEvent(queued, withMessage)).toBe('opened');
    expect(mirrorEvent(withMessage, generating)).toBeNull();
    expect(mirrorEvent(generating, failed)).toBe('ended');
    expect(mirrorEvent(failed, { ...failed, noticePending: false })).toBeNull();
    // A late video after a timeout: failed -> delivering -> delivered ends it again.
    expect(mirrorEvent({ ...failed, state: 'delivering' }, { ...failed, state: 'delivered' })).toBe('ended');
    expect(mirrorEvent(queued, { ...withMessage, guildId: null })).toBeNull();
  });
});

describe('JobMirror', () => {
  let rest: FakeRest;
  let store: Keyv;
  let settings: Map<string, GuildSettings>;
  let now: number;
  let logger: ReturnType<typeof recordingLogger>;

  beforeEach(() => {
    rest = new FakeRest();
    store = new Keyv({ namespace: 'guilds' });
    settings = new Map([[GUILD, { logChannel: { channelId: LOG, locale: 'en-US' } }]]);
    now = 1_700_000_000_000;
    logger = recordingLogger();
  });

  function mirror(): JobMirror {
    return new JobMirror({
      rest,
      settings: { get: async (guildId) => settings.get(guildId) ?? {} },
      store,
      clock: { now: () => now },
      logger,
    });
  }

  /** The writes a job's life makes, as the job store reports them. */
  function life(m: JobMirror, end: JobRecord['state'] = 'delivered'): JobRecord {
    const queued = makeJob({ messageId: null });
    const accepted = { ...queued, messageId: '666666666666666666' };
    m.observe(null, queued);
    m.observe(queued, accepted);
    m.observe(accepted, { ...accepted, state: 'generating' });
    const final: JobRecord = { ...accepted, state: end };
    m.observe({ ...accepted, state: 'delivering' }, final);
    return final;
  }

  it('GIVEN a job from accept to delivery THEN one post, then one edit of that same message', async () => {
    const m = mirror();
    const job = life(m);
    await m.idle();
    expect(rest.calls.map((c) => c.method)).toEqual(['postChannelMessage', 'editChannelMessage']);
    const [post, edit] = rest.sends;
    expect(post).toMatchObject({ channelId: LOG });
    expect(edit).toMatchObject({ channelId: LOG, view: { content: expect.stringContaining('delivered') as string } });
    expect(await store.get(`mirror:${job.id}`)).toMatchObject({ channelId: LOG, locale: 'en-US' });
  });

  it('GIVEN no log channel, a DM job or a job never acknowledged THEN nothing is sent', async () => {
    settings.clear();
    const m = mirror();
    life(m);
    const dm = makeJob({ guildId: null });
    m.observe({ ...dm, messageId: null }, dm);
    await m.idle();
    settings.set(GUILD, { logChannel: { channelId: LOG, locale: 'en-US' } });
    const abandoned = makeJob({ messageId: null });
    m.observe(abandoned, { ...abandoned, state: 'failed' });
    await m.idle();
    expect(rest.calls).toEqual([]);
  });

  it('GIVEN a restart between the post and the end THEN the next process edits the message the first one posted', async () => {
    const first = mirror();
    const queued = makeJob({ messageId: null });
    const accepted = { ...queued, messageId: '666666666666666666' };
    first.observe(queued, accepted);
    await first.idle();
    const posted = rest.of('postChannelMessage');
    expect(posted).toHaveLength(1);

    const second = mirror();
    second.observe({ ...accepted, state: 'delivering' }, { ...accepted, state: 'delivered' });
    await second.idle();
    const [edit] = rest.of('editChannelMessage');
    expect(rest.of('postChannelMessage')).toHaveLength(1);
    expect(edit?.view.content).toContain('delivered');
  });

  it('GIVEN Discord refusing the channel THEN the job never sees it: logged once, and the channel is left alone for 10 minutes', async () => {
    rest.failNext('postChannelMessage', discordError(403, Codes.MissingPermissions));
    const m = mirror();
    expect(() => life(m)).not.toThrow();
    await m.idle();
    expect(rest.calls.map((c) => c.method)).toEqual(['postChannelMessage']);
    expect(logger.lines.filter((l) => l.level === 'warn').map((l) => l.fields.code)).toEqual([50013]);

    life(m);
    await m.idle();
    expect(rest.calls).toHaveLength(1);
    now += 10 * 60_000;
    life(m);
    await m.idle();
    expect(rest.calls.map((c) => c.method)).toEqual(['postChannelMessage', 'postChannelMessage', 'editChannelMessage']);
  });

  it('GIVEN the settings store failing THEN observe still returns at once and the failure is only logged', async () => {
    const m = new JobMirror({
      rest,
      settings: { get: () => Promise.reject(new Error('SQLITE_BUSY')) },
      store,
      clock: { now: () => now },
      logger,
    });
    expect(() => life(m)).not.toThrow();
    await m.idle();
    expect(rest.calls).toEqual([]);
    expect(logger.lines.filter((l) => l.message === 'log channel mirror failed')).toHaveLength(2);
  });

  it('GIVEN the welcome post THEN the missing permission is named from Discord’s answer', async () => {
    const m = mirror();
    const channel = { channelId: LOG, locale: 'en-US' };
    expect(await m.welcome(channel, '1')).toBeNull();
    rest.failNext('postChannelMessage', discordError(403, Codes.MissingAccess));
    expect(await m.welcome(channel, '1')).toBe('view_channel');
    rest.failNext('postChannelMessage', discordError(403, Codes.MissingPermissions));
    expect(await m.welcome(channel, '1')).toBe('send_messages');
    rest.failNext('postChannelMessage', discordError(500, 0));
    await expect(m.welcome(channel, '1')).rejects.toThrow();

    // Without Embed Links Discord posts the message with its embeds dropped.
    class DroppingEmbeds extends FakeRest {
      override async postChannelMessage(id: string, view: MessageView, options?: SendOptions): Promise<APIMessage> {
        return { ...(await super.postChannelMessage(id, view, options)), embeds: [] };
      }
    }
    rest = new DroppingEmbeds();
    expect(await mirror().welcome(channel, '1')).toBe('embed_links');
    expect(rest.calls.map((c) => c.method)).toEqual(['postChannelMessage', 'deleteChannelMessage']);
  });
});
