import { describe, expect, it } from 'vitest';
import { DownloadError, type DownloadResult } from '../../../../src/lib/download.js';
import { renderFailure } from '../../../../src/services/delivery/views.js';
import { silentLogger } from '../../../../src/logger.js';
import type { ImageFailureReason } from '../../../../src/services/jobs/record.js';
import { sniffImageType } from '../../../../src/lib/mediaType.js';
import { declaredImageType, ImagePreparer } from '../../../../src/services/kie/images.js';
import { MediaRefusedError } from '../../../../src/services/runtime/fetchGuard.js';
import type { UploadRequest } from '../../../../src/services/kie/types.js';
import { makeJob } from '../../../helpers/jobs.js';
import { makePng } from '../../../helpers/png.js';

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x24, 0, 0, 0]), Buffer.from('WEBPVP8 ')]);

describe('sniffImageType (magic bytes)', () => {
  it('GIVEN a real PNG THEN it is image/png', () => {
    expect(sniffImageType(makePng(2, 2, [255, 0, 0]))).toBe('image/png');
  });

  it('GIVEN a JPEG start of image marker THEN it is image/jpeg', () => {
    expect(sniffImageType(JPEG)).toBe('image/jpeg');
  });

  it('GIVEN a RIFF container of type WEBP THEN it is image/webp', () => {
    expect(sniffImageType(WEBP)).toBe('image/webp');
  });

  it.each([
    ['text', Buffer.from('hello, this is not a picture')],
    ['empty', Buffer.alloc(0)],
    ['a GIF', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1')],
    ['a RIFF WAVE file', Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVEfmt ')])],
    ['a PNG signature cut short', makePng(1, 1, [0, 0, 0]).subarray(0, 7)],
    ['two JPEG bytes', JPEG.subarray(0, 2)],
    ['an mp4', Buffer.from('\x00\x00\x00\x18ftypisom', 'latin1')],
  ])('GIVEN %s THEN it is not an image we accept', (_name, bytes) => {
    expect(sniffImageType(bytes)).toBeNull();
  });
});

describe('declaredImageType (the attachment payload)', () => {
  it.each([
    ['image/png', 'image/png'],
    ['image/jpeg', 'image/jpeg'],
    ['IMAGE/WEBP', 'image/webp'],
    ['image/png; charset=binary', 'image/png'],
  ])('GIVEN %s THEN it is accepted as %s', (declared, expected) => {
    expect(declaredImageType(declared)).toBe(expected);
  });

  it.each([['text/plain'], ['image/gif'], ['image/svg+xml'], [''], [null], [undefined]])(
    'GIVEN %s THEN it is refused',
    (declared) => {
      expect(declaredImageType(declared)).toBeNull();
    },
  );
});

describe('ImagePreparer', () => {
  const cap = 1024 * 1024;

  function preparer(
    files: Record<string, DownloadResult | Error | Array<DownloadResult | Error>>,
    uploadFails = false,
  ) {
    const uploads: UploadRequest[] = [];
    const downloads: string[] = [];
    const answers = new Map(Object.entries(files).map(([url, a]) => [url, Array.isArray(a) ? [...a] : [a]]));
    const images = new ImagePreparer({
      maxImageBytes: cap,
      logger: silentLogger,
      download: async (url, capBytes) => {
        expect(capBytes).toBe(cap);
        downloads.push(url);
        const queue = answers.get(url) ?? [];
        const answer = queue.length > 1 ? queue.shift() : queue[0];
        if (!answer) throw new DownloadError('download answered HTTP 404', 404);
        if (answer instanceof Error) throw answer;
        return answer;
      },
      upload: async (request) => {
        uploads.push(request);
        if (uploadFails) throw new Error('upload failed');
        return { downloadUrl: `https://kie.example/${request.uploadPath}/${request.fileName}` };
      },
    });
    return { images, uploads, downloads };
  }

  const ok = (data: Buffer, contentType: string | null = 'image/png'): DownloadResult => ({
    kind: 'ok',
    data,
    contentType,
  });

  it('GIVEN a PNG and a JPEG THEN both are uploaded in order, typed by their bytes, and their URLs returned', async () => {
    const png = makePng(4, 3, [10, 20, 30]);
    // The served type is ignored: the bytes decide.
    const { images, uploads } = preparer({
      'https://cdn/a': ok(png, 'application/octet-stream'),
      'https://cdn/b': ok(JPEG),
    });
    const result = await images.prepare('job1', ['https://cdn/a', 'https://cdn/b']);
    expect(result).toEqual({
      ok: true,
      urls: ['https://kie.example/veo-bot/job1/first.png', 'https://kie.example/veo-bot/job1/last.jpg'],
    });
    expect(uploads.map((u) => [u.fileName, u.mimeType, u.uploadPath])).toEqual([
      ['first.png', 'image/png', 'veo-bot/job1'],
      ['last.jpg', 'image/jpeg', 'veo-bot/job1'],
    ]);
    expect(Buffer.from(uploads[0]!.data).equals(png)).toBe(true);
  });

  it('GIVEN an end image whose bytes are not an image THEN nothing at all is uploaded', async () => {
    const { images, uploads } = preparer({
      'https://cdn/a': ok(makePng(1, 1, [0, 0, 0])),
      'https://cdn/b': ok(Buffer.from('plain text')),
    });
    expect(await images.prepare('job2', ['https://cdn/a', 'https://cdn/b'])).toEqual({
      ok: false,
      reason: 'not_an_image',
    });
    expect(uploads).toEqual([]);
  });

  it('GIVEN the upload fails THEN it is not retried here (the client already retried once)', async () => {
    const { images, uploads } = preparer({ 'https://cdn/a': ok(JPEG) }, true);
    expect(await images.prepare('job3', ['https://cdn/a'])).toEqual({ ok: false, reason: 'image_upload' });
    expect(uploads).toHaveLength(1);
  });

  it('GIVEN a body larger than the cap THEN the job fails as too large, without upload', async () => {
    const { images, uploads } = preparer({ 'https://cdn/a': { kind: 'too_large' } });
    expect(await images.prepare('job4', ['https://cdn/a'])).toEqual({ ok: false, reason: 'image_too_large' });
    expect(uploads).toEqual([]);
  });

  it('GIVEN a transient download failure THEN the download is tried once more', async () => {
    const { images, downloads } = preparer({ 'https://cdn/a': [new DownloadError('reset', null), ok(WEBP)] });
    const result = await images.prepare('job5', ['https://cdn/a']);
    expect(result).toEqual({ ok: true, urls: ['https://kie.example/veo-bot/job5/first.webp'] });
    expect(downloads).toHaveLength(2);
  });

  it('GIVEN the fetch guard refuses a URL or its bytes THEN nothing is uploaded, not retried, and the reason says which', async () => {
    const { images, uploads, downloads } = preparer({
      'https://cdn/internal': new MediaRefusedError('not_public', 'cdn'),
      'https://cdn/html': new MediaRefusedError('not_media', 'cdn'),
    });
    expect(await images.prepare('job7', ['https://cdn/internal'])).toEqual({ ok: false, reason: 'image_refused' });
    expect(await images.prepare('job8', ['https://cdn/html'])).toEqual({ ok: false, reason: 'not_an_image' });
    expect(downloads).toEqual(['https://cdn/internal', 'https://cdn/html']);
    expect(uploads).toEqual([]);
  });

  it('GIVEN a 404 from Discord THEN the download is not retried and the job fails as undownloadable', async () => {
    const { images, downloads } = preparer({});
    expect(await images.prepare('job6', ['https://cdn/gone'])).toEqual({ ok: false, reason: 'image_download' });
    expect(downloads).toHaveLength(1);
  });
});

describe('image failure messages', () => {
  const reasons: Record<ImageFailureReason, RegExp> = {
    not_an_image: /not actually a JPEG, PNG or WebP image/,
    image_too_large: /larger than the size limit/,
    image_download: /could not download your image from Discord/,
    image_upload: /upload failed twice/,
    image_interrupted: /^Sorry: the bot restarted/,
    image_refused: /points somewhere the bot does not fetch from/,
  };

  it.each(Object.entries(reasons))('GIVEN %s THEN the job message explains it and the refund', (reason, text) => {
    const job = makeJob({
      state: 'failed',
      refunded: true,
      failure: { reason: reason as ImageFailureReason, policyText: null },
    });
    const [title, sentence, refund] = renderFailure(job).content.split('\n');
    expect(title).toContain('could not be made');
    expect(sentence).toMatch(text);
    expect(refund).toBe('Nothing was charged: 1 unit(s) returned to you.');
  });
});
