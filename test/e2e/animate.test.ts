import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { veoCommandData } from '../../src/commands/veo/index.js';
import { animateSubcommand } from '../../src/commands/veo/animate.js';
import { t } from '../../src/i18n/index.js';
import { startLoopbackServer } from '../helpers/loopbackServer.js';
import { makePng } from '../helpers/png.js';
import { validateDiscordRequest } from './helpers/discordSchemas.js';
import { bodyOf, isCallback, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';
import type { KieRecordedRequest } from './helpers/loopbackKie.js';
import { FakeCdn, SIGNATURE, type AttachmentInput } from './helpers/fakeCdn.js';

const STRING = 3;
const ATTACHMENT = 11;
const EPHEMERAL = 64;
const UPLOAD_PATH = '/api/file-stream-upload';
const MAX_IMAGE_BYTES = 10 * 1024 * 1024;
describe('/veo animate end to end (real discord.js client, loopback Discord and kie, SQLite)', () => {
  let h: Harness;
  let cdn: FakeCdn;
  let nextAttachmentId = 1300000000000000001n;
  const redPng = makePng(16, 9, [220, 30, 30]);
  const bluePng = makePng(16, 9, [30, 30, 220]);

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

  function animate(prompt: string, image: AttachmentInput, endImage?: AttachmentInput) {
    const attachments = [];
    const options: { name: string; type: number; value: string }[] = [];
    for (const [option, input] of [['image', image] as const, ['end_image', endImage] as const]) {
      if (!input) continue;
      const id = String(nextAttachmentId++);
      attachments.push({
        id,
        filename: input.name,
        size: input.size ?? input.bytes.length,
        contentType: input.contentType,
        url: input.url ?? cdn.serve(input.name, input.bytes, input.contentType),
      });
      options.push({ name: option, type: ATTACHMENT, value: id });
    }
    // Discord sends required options first, in the order the command declares them.
    options.splice(1, 0, { name: 'prompt', type: STRING, value: prompt });
    return h.discord.slashCommand({ name: 'veo', subcommand: 'animate', options, attachments });
  }

  function uploads(): KieRecordedRequest[] {
    return h.kie.requests.filter((r) => r.method === 'POST' && r.path === UPLOAD_PATH);
  }

  async function unitsLeft(): Promise<number> {
    return (await h.bot.quota.status({ guildId: h.discord.guild.id, userId: h.discord.userId })).remaining;
  }

  async function fetchBytes(url: string): Promise<Buffer> {
    const response = await fetch(url);
    expect(response.status).toBe(200);
    return Buffer.from(await response.arrayBuffer());
  }

  function expectNoSecretsOrPromptInLogs(prompt: string): void {
    for (const line of h.logs) {
      const text = JSON.stringify(line);
      expect(text).not.toContain(prompt);
      expect(text).not.toContain(SIGNATURE);
    }
  }

  it('declares /veo animate as Discord accepts it: attachments, prompt max_length 2000, aspect Auto | 16:9 | 9:16', () => {
    const put = validateDiscordRequest('PUT', `/applications/${h.discord.applicationId}/commands`, [veoCommandData]);
    expect(put.violations).toEqual([]);
    expect(veoCommandData.options.map((o) => o.name)).toContain('animate');
    const options = animateSubcommand.options.map((o) => ({
      name: o.name,
      type: o.type,
      required: 'required' in o ? o.required : undefined,
      max_length: 'max_length' in o ? o.max_length : undefined,
      choices: 'choices' in o ? o.choices?.map((c) => c.value) : undefined,
    }));
    expect(options).toEqual([
      { name: 'image', type: ATTACHMENT, required: true, max_length: undefined, choices: undefined },
      { name: 'prompt', type: STRING, required: true, max_length: 2000, choices: undefined },
      { name: 'end_image', type: ATTACHMENT, required: undefined, max_length: undefined, choices: undefined },
      {
        name: 'model',
        type: STRING,
        required: undefined,
        max_length: undefined,
        choices: ['veo3_fast', 'veo3', 'veo3_lite'],
      },
      { name: 'aspect', type: STRING, required: undefined, max_length: undefined, choices: ['Auto', '16:9', '9:16'] },
      { name: 'seed', type: 4, required: undefined, max_length: undefined, choices: undefined },
      { name: 'private', type: 5, required: undefined, max_length: undefined, choices: undefined },
    ]);
  });

  it('re-hosts the PNG on kie, generates first-and-last-frames from its downloadUrl, and delivers the mp4', async () => {
    const prompt = 'the red square slowly turns into a sunset';
    const handle = await animate(prompt, { name: 'red.png', bytes: redPng, contentType: 'image/png' });
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');

    const first = h.discord.requestsAfter(handle.seq).find((r) => r.method !== 'GATEWAY')!;
    expect(isCallback(first, handle.interactionId)).toBe(true);
    expect(bodyOf(first).type).toBe(5);

    const [upload, ...moreUploads] = uploads();
    expect(moreUploads).toEqual([]);
    expect(upload!.headers.authorization).toBe(`Bearer ${h.kie.apiKey}`);
    expect(upload!.multipart?.fields).toEqual({ uploadPath: `veo-bot/${done.id}`, fileName: 'first.png' });
    const [file] = upload!.multipart!.files;
    expect(file!.field).toBe('file');
    expect(file!.mimeType).toBe('image/png');
    expect(file!.bytes.equals(redPng)).toBe(true);

    const generates = h.kie.generateRequests();
    expect(generates).toHaveLength(1);
    expect(generates[0]!.seq).toBeGreaterThan(upload!.seq);
    const [downloadUrl] = done.options.imageUrls;
    expect(generates[0]!.json).toEqual({
      prompt,
      model: 'veo3_fast',
      aspect_ratio: 'Auto',
      enableTranslation: true,
      imageUrls: [downloadUrl],
      generationType: 'FIRST_AND_LAST_FRAMES_2_VIDEO',
    });
    // The URL kie was given is the upload's downloadUrl: it serves exactly the PNG's bytes.
    expect((await fetchBytes(downloadUrl!)).equals(redPng)).toBe(true);
    expect(done.options.imagesPending).toBe(false);

    const final = h.discord
      .requestsAfter(handle.seq)
      .filter((r) => isOriginalEdit(r, handle.token))
      .at(-1)!;
    expect(final.files).toHaveLength(1);
    expect(final.files[0]!.fileName).toBe(`veo-${done.id}.mp4`);
    expect(String(bodyOf(final).content)).toContain('Your video is ready');
    expect(await unitsLeft()).toBe(4);
    expectNoSecretsOrPromptInLogs(prompt);
  });

  it('with end_image: two uploads in order, and two imageUrls, first frame then last', async () => {
    const prompt = 'red fades into blue';
    const handle = await animate(
      prompt,
      { name: 'red.png', bytes: redPng, contentType: 'image/png' },
      { name: 'blue.png', bytes: bluePng, contentType: 'image/png' },
    );
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');

    const sent = uploads();
    expect(sent.map((u) => u.multipart?.fields.fileName)).toEqual(['first.png', 'last.png']);
    expect(sent[0]!.multipart!.files[0]!.bytes.equals(redPng)).toBe(true);
    expect(sent[1]!.multipart!.files[0]!.bytes.equals(bluePng)).toBe(true);

    const [generate] = h.kie.generateRequests();
    const body = generate!.json as Record<string, unknown>;
    expect(body.generationType).toBe('FIRST_AND_LAST_FRAMES_2_VIDEO');
    expect(body.imageUrls).toEqual(done.options.imageUrls);
    expect(done.options.imageUrls).toHaveLength(2);
    const [firstUrl, lastUrl] = done.options.imageUrls;
    expect((await fetchBytes(firstUrl!)).equals(redPng)).toBe(true);
    expect((await fetchBytes(lastUrl!)).equals(bluePng)).toBe(true);
    expectNoSecretsOrPromptInLogs(prompt);
  });

  describe('bad inputs: the user is told, nothing reaches generate', () => {
    async function expectEphemeralRefusal(handle: { interactionId: string; seq: number }): Promise<string> {
      const reply = await h.discord.waitForRequest((r) => isCallback(r, handle.interactionId), {
        afterSeq: handle.seq,
      });
      // The refusal is the bot's first answer: no defer came before it.
      expect(h.discord.requestsAfter(handle.seq).find((r) => r.method !== 'GATEWAY')).toBe(reply);
      expect(bodyOf(reply).type).toBe(4);
      const data = bodyOf(reply).data as Record<string, unknown>;
      expect(Number(data.flags) & EPHEMERAL).toBe(EPHEMERAL);
      expect(h.logs.some((l) => l.message === 'job accepted')).toBe(false);
      expect(h.kie.requests.filter((r) => r.path === UPLOAD_PATH || r.path.startsWith('/api/v1/veo/'))).toEqual([]);
      expect(await unitsLeft()).toBe(5);
      return String(data.content);
    }

    async function expectFailedJob(handle: { interactionId: string; token: string; seq: number }): Promise<string> {
      const failed = await h.job(handle.interactionId, (j) => j.state === 'failed' && j.interaction.token === null);
      expect(failed.refunded).toBe(true);
      const edit = await h.discord.waitForRequest(
        (r) => isOriginalEdit(r, handle.token) && String(bodyOf(r).content).includes('could not be made'),
        { afterSeq: handle.seq },
      );
      const first = h.discord.requestsAfter(handle.seq).find((r) => r.method !== 'GATEWAY')!;
      expect(bodyOf(first).type).toBe(5);
      expect(h.kie.generateRequests()).toEqual([]);
      expect(await unitsLeft()).toBe(5);
      const content = String(bodyOf(edit).content);
      expect(content).toContain('Nothing was charged: 1 unit(s) returned to you.');
      return content;
    }

    it('declared text/plain: ephemeral refusal before the defer, saying what is accepted, nothing charged', async () => {
      const handle = await animate('a talking text file', {
        name: 'notes.txt',
        bytes: Buffer.from('hello'),
        contentType: 'text/plain',
      });
      const content = await expectEphemeralRefusal(handle);
      expect(content).toBe(
        'The `image` attachment is not an image I can use. Attach a JPEG, PNG or WebP image of up to 10 MiB.',
      );
    });

    it('declared size over MAX_IMAGE_BYTES: ephemeral refusal before the defer, with the size and the limit', async () => {
      const handle = await animate(
        'a huge picture',
        { name: 'red.png', bytes: redPng, contentType: 'image/png' },
        { name: 'huge.png', bytes: bluePng, contentType: 'image/png', size: MAX_IMAGE_BYTES + 2 * 1024 * 1024 },
      );
      const content = await expectEphemeralRefusal(handle);
      expect(content).toBe(
        'The `end_image` attachment is 12 MiB; the limit is 10 MiB. Attach a smaller JPEG, PNG or WebP image.',
      );
    });

    it('declared image/png whose bytes are not an image: the job message says so, refunded, no upload', async () => {
      const handle = await animate('a fake picture', {
        name: 'fake.png',
        bytes: Buffer.from('<html>this is not a picture</html>'),
        contentType: 'image/png',
      });
      const content = await expectFailedJob(handle);
      expect(content).toBe(
        [
          '❌ The video could not be made.',
          'An attached file is not actually a JPEG, PNG or WebP image, so nothing was sent to the video service.',
          'Nothing was charged: 1 unit(s) returned to you.',
        ].join('\n'),
      );
      expect(uploads()).toEqual([]);
    });

    it('an attachment URL to an internal address the bot does not trust: refused unfetched, refunded, no upload', async () => {
      const internal = await startLoopbackServer();
      try {
        const url = `https://127.0.0.1:${internal.port}/attachments/1/red.png`;
        const handle = await animate('a forged attachment', {
          name: 'red.png',
          bytes: redPng,
          contentType: 'image/png',
          url,
        });
        const content = await expectFailedJob(handle);
        expect(content.split('\n')[1]).toBe(t('en-US', 'failed.image_refused'));
        expect(internal.connections).toBe(0);
        expect(uploads()).toEqual([]);
        expect(h.kie.generateRequests()).toEqual([]);
      } finally {
        await internal.close();
      }
    });

    it('upload answering 500 twice: one retry, then the job message says so, refunded', async () => {
      h.kie.uploadBehavior = [{ httpStatus: 500 }, { httpStatus: 500 }];
      const handle = await animate('an unlucky picture', { name: 'red.png', bytes: redPng, contentType: 'image/png' });
      const content = await expectFailedJob(handle);
      expect(content).toBe(
        [
          '❌ The video could not be made.',
          'I could not hand your image to the video service: its upload failed twice. Try again in a few minutes.',
          'Nothing was charged: 1 unit(s) returned to you.',
        ].join('\n'),
      );
      expect(uploads()).toHaveLength(2);
      expect(uploads().every((u) => u.multipart?.files[0]?.bytes.equals(redPng))).toBe(true);
    });
  });
});
