import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateBody } from '../../../../src/services/kie/wire.js';
import { createKieHarness, envelope, JSON_HEADERS, type KieHarness } from '../../../helpers/mockKie.js';

const UHD = { path: '/api/v1/veo/get-4k-video', method: 'POST' };
const PROCESSING = '4k is processing. It should be ready in 5-10 minutes. Please check back shortly.';

let kie: KieHarness;

beforeEach(() => {
  kie = createKieHarness();
});

afterEach(async () => {
  await kie.finish();
});

describe('KieClient.get4k (kie-veo-api.md §3b)', () => {
  it('GIVEN the first call WHEN kie answers 200 without URLs THEN it is processing, and the body is {taskId, index, callBackUrl}', async () => {
    kie.api
      .intercept(UHD)
      .reply(200, envelope(200, 'success', { taskId: 'task1', resultUrls: null, imageUrls: null }), {
        headers: JSON_HEADERS,
      });
    await expect(kie.client.get4k('task1', 0, 'https://bot.example/kie/callback?job=j1')).resolves.toEqual({
      state: 'processing',
    });
    const [call] = kie.calls();
    expect(call?.headers).toMatchObject({ 'content-type': 'application/json' });
    expect(JSON.parse(String(call?.body))).toStrictEqual({
      taskId: 'task1',
      index: 0,
      callBackUrl: 'https://bot.example/kie/callback?job=j1',
    });
  });

  it('GIVEN a 422 "4k is processing" THEN it is processing after one request (not retried)', async () => {
    kie.api.intercept(UHD).reply(200, envelope(422, PROCESSING));
    await expect(kie.client.get4k('task1')).resolves.toEqual({ state: 'processing' });
    expect(kie.calls()).toHaveLength(1);
    expect(JSON.parse(String(kie.calls()[0]?.body))).toStrictEqual({ taskId: 'task1', index: 0 });
  });

  it.each([
    ['an array', ['https://tempfile.test/4k.mp4']],
    ['a JSON string', '["https://tempfile.test/4k.mp4"]'],
  ])('GIVEN 422 "generated successfully" with resultUrls as %s THEN it is ready at the first URL', async (_, urls) => {
    kie.api
      .intercept(UHD)
      .reply(
        200,
        envelope(422, 'The video has been generated successfully', { resultUrls: urls, imageUrls: ['x.jpg'] }),
      );
    await expect(kie.client.get4k('task1')).resolves.toEqual({ state: 'ready', url: 'https://tempfile.test/4k.mp4' });
  });

  it('GIVEN the snake_case shape THEN result_urls is read too', async () => {
    kie.api
      .intercept(UHD)
      .reply(200, envelope(200, 'success', { task_id: 't', result_urls: ['https://t.test/a.mp4'] }));
    await expect(kie.client.get4k('task1')).resolves.toEqual({ state: 'ready', url: 'https://t.test/a.mp4' });
  });

  it('GIVEN 500 "unavailable" THEN it is failed for good, after one request', async () => {
    kie.api
      .intercept(UHD)
      .reply(200, envelope(500, 'The 4K version of this video is unavailable. Please try a different video.'));
    await expect(kie.client.get4k('task1')).resolves.toEqual({ state: 'failed' });
    expect(kie.calls()).toHaveLength(1);
  });

  it('GIVEN a 422 "only records within 14 days" THEN it throws KieHttpError 422, not processing', async () => {
    kie.api.intercept(UHD).reply(200, envelope(422, 'Temporarily supports records within 14 days'));
    await expect(kie.client.get4k('task1')).rejects.toMatchObject({ apiCode: 422 });
  });

  it('GIVEN a transient 500 THEN it is retried like any read', async () => {
    kie.api.intercept(UHD).reply(200, envelope(500, 'Internal Error, Please try again later.'));
    kie.api.intercept(UHD).reply(200, envelope(422, PROCESSING));
    await expect(kie.client.get4k('task1')).resolves.toEqual({ state: 'processing' });
    expect(kie.calls()).toHaveLength(2);
  });
});

describe('generate bodies of /veo reference and a watermarked server (kie-veo-api.md §1)', () => {
  it('GIVEN reference pictures and a watermark THEN REFERENCE_2_VIDEO with the URLs in order, and watermark', () => {
    expect(
      generateBody({
        prompt: 'p',
        model: 'veo3_fast',
        aspectRatio: '16:9',
        imageUrls: ['https://a/1.png', 'https://a/2.png', 'https://a/3.png'],
        imageRole: 'reference',
        watermark: 'Guild',
      }),
    ).toStrictEqual({
      prompt: 'p',
      model: 'veo3_fast',
      aspect_ratio: '16:9',
      enableTranslation: true,
      imageUrls: ['https://a/1.png', 'https://a/2.png', 'https://a/3.png'],
      generationType: 'REFERENCE_2_VIDEO',
      watermark: 'Guild',
    });
  });

  it('GIVEN pictures without a role THEN they are first and last frames, and no watermark is sent unset', () => {
    const body = generateBody({ prompt: 'p', model: 'veo3', aspectRatio: 'Auto', imageUrls: ['https://a/1.png'] });
    expect(body.generationType).toBe('FIRST_AND_LAST_FRAMES_2_VIDEO');
    expect(body).not.toHaveProperty('watermark');
  });
});
