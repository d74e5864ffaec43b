import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { t } from '../../src/i18n/index.js';
import { admin, ephemeralText, OPTION, prompt } from './helpers/commands.js';
import { startHarness, type Harness } from './helpers/harness.js';

const text = (value: string) => ({ name: 'text', type: OPTION.string, value });

describe('/veo-admin watermark (DESIGN §1.8: real client, loopback Discord and kie, SQLite)', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
  });

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  async function generated(words: string): Promise<Record<string, unknown>> {
    const handle = await prompt(h, words);
    await h.job(handle.interactionId, (j) => j.state === 'delivered');
    return h.kie.generateRequests().at(-1)!.json as Record<string, unknown>;
  }

  it('GIVEN a watermark THEN the next generate and extend carry it; without text it is off again', async () => {
    const set = await admin(h, 'watermark', [text('  Made on Veo Guild  ')]);
    expect(await ephemeralText(h, set)).toBe(
      '✅ Watermark set: videos made on this server from now on carry “Made on Veo Guild”.',
    );

    const body = await generated('a lantern festival');
    expect(body).toStrictEqual({
      prompt: 'a lantern festival',
      model: 'veo3_fast',
      aspect_ratio: '16:9',
      enableTranslation: true,
      generationType: 'TEXT_2_VIDEO',
      watermark: 'Made on Veo Guild',
    });

    // Extend sends it too (kie-veo-api.md §3c documents `watermark` there).
    const done = await h.bot.jobs.get(String(h.logs.find((l) => l.message === 'job accepted')!.fields.jobId));
    const submit = await h.discord.modalSubmit({
      customId: `veo:extendm:${done!.id}`,
      messageId: done!.messageId!,
      fields: { prompt: 'the lanterns rise into the clouds' },
    });
    await h.job(submit.interactionId, (j) => j.state === 'delivered');
    expect(h.kie.extendRequests()[0]!.json).toStrictEqual({
      taskId: done!.taskId,
      prompt: 'the lanterns rise into the clouds',
      model: 'fast',
      watermark: 'Made on Veo Guild',
    });

    const off = await admin(h, 'watermark', [], { locale: 'zh-CN' });
    expect(await ephemeralText(h, off)).toBe(t('zh-CN', 'admin.watermark_off'));
    expect(await generated('no mark any more')).not.toHaveProperty('watermark');

    await ephemeralText(h, await admin(h, 'watermark', [text('Veo Guild')]));
    const spelledOff = await admin(h, 'watermark', [text('OFF')]);
    expect(await ephemeralText(h, spelledOff)).toBe(t('en-US', 'admin.watermark_off'));
    expect(await generated('off means off')).not.toHaveProperty('watermark');
  });

  it.each(['en-US', 'zh-CN'])(
    'GIVEN a watermark over 30 characters (%s) THEN it is refused, privately, and nothing changes',
    async (locale) => {
      await ephemeralText(h, await admin(h, 'watermark', [text('Veo Guild')]));
      const long = 'x'.repeat(31);
      const refused = await admin(h, 'watermark', [text(long)], { locale });
      expect(await ephemeralText(h, refused)).toBe(t(locale, 'admin.watermark_too_long', { max: 30, length: 31 }));
      // Thirty is fine, emoji counted as one character each as Discord counts them.
      const thirty = `${'🎬'.repeat(2)}${'y'.repeat(28)}`;
      expect(await generated('still the old mark')).toMatchObject({ watermark: 'Veo Guild' });
      const ok = await admin(h, 'watermark', [text(thirty)], { locale });
      expect(await ephemeralText(h, ok)).toBe(t(locale, 'admin.watermark_set', { text: thirty }));
      expect(await generated('the new mark')).toMatchObject({ watermark: thirty });
    },
  );

  it('GIVEN a member without Manage Server THEN the watermark is not theirs to set', async () => {
    const handle = await admin(h, 'watermark', [text('mine')], { memberPermissions: '0' });
    expect(await ephemeralText(h, handle)).toBe(t('en-US', 'admin.forbidden'));
    expect(await generated('unmarked')).not.toHaveProperty('watermark');
  });
});
