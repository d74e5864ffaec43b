import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { veoCommandData } from '../../src/commands/veo/index.js';
import { referenceSubcommand } from '../../src/commands/veo/reference.js';
import { t } from '../../src/i18n/index.js';
import { makePng } from '../helpers/png.js';
import { validateDiscordRequest } from './helpers/discordSchemas.js';
import { attachmentOption, FakeCdn, SIGNATURE, type AttachmentInput } from './helpers/fakeCdn.js';
import { bodyOf, isCallback, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';
import type { InteractionHandle } from './helpers/loopbackDiscord.js';

const STRING = 3;
const ATTACHMENT = 11;
const EPHEMERAL = 64;
const UPLOAD_PATH = '/api/file-stream-upload';

describe('/veo reference end to end (real discord.js client, loopback Discord and kie, SQLite)', () => {
  let h: Harness;
  let cdn: FakeCdn;
  const redPng = makePng(16, 9, [220, 30, 30]);
  const bluePng = makePng(16, 9, [30, 30, 220]);
  const greenPng = makePng(9, 16, [30, 220, 30]);

  beforeAll(async () => {
    cdn = await FakeCdn.start();
  });

  afterAll(async () => {
    await cdn.close();
  });

  beforeEach(async () => {
    h = await startHarness({ trustedMediaOrigins: [cdn.origin] });
  });

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  function reference(
    prompt: string,
    images: readonly AttachmentInput[],
    extra: { locale?: string; aspect?: string } = {},
  ): Promise<InteractionHandle> {
    const parts = images.map((input, i) => attachmentOption(cdn, i === 0 ? 'image' : `image${i + 1}`, input));
    // Discord sends required options first, in the order the command declares them.
    const options = [{ name: 'prompt', type: STRING, value: prompt }, ...parts.map((p) => p.option)];
    if (extra.aspect) options.push({ name: 'aspect', type: STRING, value: extra.aspect });
    return h.discord.slashCommand({
      name: 'veo',
      subcommand: 'reference',
      options,
      attachments: parts.map((p) => p.attachment),
      ...(extra.locale ? { locale: extra.locale } : {}),
    });
  }

  const uploads = () => h.kie.requests.filter((r) => r.method === 'POST' && r.path === UPLOAD_PATH);

  async function unitsLeft(): Promise<number> {
    return (await h.bot.quota.status({ guildId: h.discord.guild.id, userId: h.discord.userId })).remaining;
  }

  it('declares /veo reference as Discord accepts it: prompt and image required, image2, image3, aspect, seed, private; no model', () => {
    const put = validateDiscordRequest('PUT', `/applications/${h.discord.applicationId}/commands`, [veoCommandData]);
    expect(put.violations).toEqual([]);
    expect(referenceSubcommand.options.map((o) => [o.name, o.type, 'required' in o ? o.required : undefined])).toEqual([
      ['prompt', STRING, true],
      ['image', ATTACHMENT, true],
      ['image2', ATTACHMENT, undefined],
      ['image3', ATTACHMENT, undefined],
      ['aspect', STRING, undefined],
      ['seed', 4, undefined],
      ['private', 5, undefined],
    ]);
    // The model is fixed: the descriptions say so, in both languages.
    expect(referenceSubcommand.description).toContain('Veo 3.1 Fast');
    const zh = veoCommandData.options.find((o) => o.name === 'reference');
    expect(JSON.stringify(zh)).toContain(
      '"zh-CN":"制作一段 8 秒视频，呈现最多三张参考图片中的内容（固定使用 Veo 3.1 快速版）"',
    );
  });

  it('two images: two uploads in order, one generate with REFERENCE_2_VIDEO, veo3_fast and both upload URLs in order', async () => {
    const prompt = 'the red cube and the blue ball play on a beach';
    const handle = await reference(
      prompt,
      [
        { name: 'red.png', bytes: redPng, contentType: 'image/png' },
        { name: 'blue.png', bytes: bluePng, contentType: 'image/png' },
      ],
      { aspect: '9:16' },
    );
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    const first = h.discord.requestsAfter(handle.seq).find((r) => r.method !== 'GATEWAY')!;
    expect(isCallback(first, handle.interactionId) && bodyOf(first).type === 5).toBe(true);

    const sent = uploads();
    expect(sent.map((u) => u.multipart?.fields)).toEqual([
      { uploadPath: `veo-bot/${done.id}`, fileName: 'reference1.png' },
      { uploadPath: `veo-bot/${done.id}`, fileName: 'reference2.png' },
    ]);
    expect(sent[0]!.multipart!.files[0]!.bytes.equals(redPng)).toBe(true);
    expect(sent[1]!.multipart!.files[0]!.bytes.equals(bluePng)).toBe(true);

    const generates = h.kie.generateRequests();
    expect(generates).toHaveLength(1);
    expect(generates[0]!.seq).toBeGreaterThan(sent[1]!.seq);
    const [redUrl, blueUrl] = done.options.imageUrls;
    expect(generates[0]!.json).toStrictEqual({
      prompt,
      model: 'veo3_fast',
      aspect_ratio: '9:16',
      enableTranslation: true,
      imageUrls: [redUrl, blueUrl],
      generationType: 'REFERENCE_2_VIDEO',
    });
    // Each URL kie was given is its upload's downloadUrl, in the order the pictures were attached.
    expect(Buffer.from(await (await fetch(redUrl!)).arrayBuffer()).equals(redPng)).toBe(true);
    expect(Buffer.from(await (await fetch(blueUrl!)).arrayBuffer()).equals(bluePng)).toBe(true);
    expect(done.options).toMatchObject({ model: 'veo3_fast', imageRole: 'reference', imagesPending: false });
    expect(await unitsLeft()).toBe(4);
    for (const line of h.logs) {
      expect(JSON.stringify(line)).not.toContain(prompt);
      expect(JSON.stringify(line)).not.toContain(SIGNATURE);
    }
  });

  it('three images are all sent, in order; the default aspect is 16:9', async () => {
    const handle = await reference('three friends', [
      { name: 'red.png', bytes: redPng, contentType: 'image/png' },
      { name: 'blue.png', bytes: bluePng, contentType: 'image/png' },
      { name: 'green.png', bytes: greenPng, contentType: 'image/png' },
    ]);
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    expect(uploads().map((u) => u.multipart?.fields.fileName)).toEqual([
      'reference1.png',
      'reference2.png',
      'reference3.png',
    ]);
    const body = h.kie.generateRequests()[0]!.json as Record<string, unknown>;
    expect(body).toMatchObject({ generationType: 'REFERENCE_2_VIDEO', model: 'veo3_fast', aspect_ratio: '16:9' });
    expect(body.imageUrls).toEqual(done.options.imageUrls);
    expect(done.options.imageUrls).toHaveLength(3);
  });

  it.each([
    ['en-US', 'The `image3` attachment is not an image I can use. Attach a JPEG, PNG or WebP image of up to 10 MiB.'],
    ['zh-CN', t('zh-CN', 'refusal.image_type', { option: 'image3', max: '10 MiB' })],
  ])(
    'a non-image third attachment (%s): refused before the defer, privately, nothing uploaded or charged',
    async (locale, expected) => {
      const handle = await reference(
        'two pictures and a text file',
        [
          { name: 'red.png', bytes: redPng, contentType: 'image/png' },
          { name: 'blue.png', bytes: bluePng, contentType: 'image/png' },
          { name: 'notes.txt', bytes: Buffer.from('hello'), contentType: 'text/plain' },
        ],
        { locale },
      );
      const reply = await h.discord.waitForRequest((r) => isCallback(r, handle.interactionId), {
        afterSeq: handle.seq,
      });
      expect(h.discord.requestsAfter(handle.seq).find((r) => r.method !== 'GATEWAY')).toBe(reply);
      expect(bodyOf(reply).type).toBe(4);
      const data = bodyOf(reply).data as Record<string, unknown>;
      expect(Number(data.flags) & EPHEMERAL).toBe(EPHEMERAL);
      expect(data.content).toBe(expected);
      expect(h.logs.some((l) => l.message === 'job accepted')).toBe(false);
      expect(h.kie.requests.filter((r) => r.path === UPLOAD_PATH || r.path.startsWith('/api/v1/veo/'))).toEqual([]);
      expect(await unitsLeft()).toBe(5);
      expect(h.discord.requestsAfter(handle.seq).some((r) => isOriginalEdit(r, handle.token))).toBe(false);
    },
  );
});
