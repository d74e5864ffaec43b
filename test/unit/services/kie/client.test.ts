import { FormData } from 'undici';
import { File } from 'node:buffer';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KieCircuit } from '../../../../src/services/kie/circuit.js';
import {
  KieBlockedError,
  KieError,
  KieHttpError,
  KieNetworkError,
  KieOutcomeUnknownError,
  KiePausedError,
  KieRateLimitError,
  KieResponseError,
  KieTimeoutError,
} from '../../../../src/services/kie/errors.js';
import type { GenerateRequest } from '../../../../src/services/kie/types.js';
import {
  createKieHarness,
  envelope,
  JSON_HEADERS,
  KIE_TEST_KEY,
  recordingLogger,
  type KieHarness,
} from '../../../helpers/mockKie.js';

const GENERATE = { path: '/api/v1/veo/generate', method: 'POST' };
const RECORD = { path: '/api/v1/veo/record-info?taskId=task1', method: 'GET' };
const HD = { path: '/api/v1/veo/get-1080p-video?taskId=task1&index=0', method: 'GET' };
const CREDITS = { path: '/api/v1/chat/credit', method: 'GET' };
const UPLOAD = { path: '/api/file-stream-upload', method: 'POST' };

const TEXT_REQUEST: GenerateRequest = { prompt: 'a red fox in the snow', model: 'veo3_fast', aspectRatio: '16:9' };
const ACCEPTED = envelope(200, 'success', { taskId: 'task1' });

function connectionError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code });
}

function record(data: Record<string, unknown>): string {
  return envelope(200, 'success', { taskId: 'task1', paramJson: '{"prompt":"p"}', ...data });
}

let kie: KieHarness;

beforeEach(() => {
  kie = createKieHarness();
});

afterEach(async () => {
  vi.useRealTimers();
  await kie.finish();
});

describe('KieClient.generate', () => {
  it('GIVEN a text request WHEN generate is called THEN it POSTs the documented body with auth and User-Agent and returns the task id', async () => {
    kie.api.intercept(GENERATE).reply(200, ACCEPTED, { headers: JSON_HEADERS });

    await expect(kie.client.generate(TEXT_REQUEST)).resolves.toEqual({ taskId: 'task1' });

    const [call] = kie.calls();
    expect(call?.method).toBe('POST');
    expect(call?.path).toBe('/api/v1/veo/generate');
    expect(call?.headers).toMatchObject({
      authorization: `Bearer ${KIE_TEST_KEY}`,
      'content-type': 'application/json',
    });
    expect(String(call?.headers?.['user-agent'])).toMatch(/^VeoBot\//);
    expect(JSON.parse(String(call?.body))).toStrictEqual({
      prompt: 'a red fox in the snow',
      model: 'veo3_fast',
      aspect_ratio: '16:9',
      enableTranslation: true,
      generationType: 'TEXT_2_VIDEO',
    });
  });

  it('GIVEN images, a seed and a callback WHEN generate is called THEN the body uses imageUrls, FIRST_AND_LAST_FRAMES_2_VIDEO, seeds and callBackUrl', async () => {
    kie.api.intercept(GENERATE).reply(200, ACCEPTED);

    await kie.client.generate({
      prompt: 'it unfolds',
      model: 'veo3',
      aspectRatio: 'Auto',
      seed: 12345,
      imageUrls: ['https://files.test/a.png', 'https://files.test/b.png'],
      callBackUrl: 'https://bot.test/kie/callback?job=abc',
    });

    expect(JSON.parse(String(kie.calls()[0]?.body))).toStrictEqual({
      prompt: 'it unfolds',
      model: 'veo3',
      aspect_ratio: 'Auto',
      enableTranslation: true,
      seeds: 12345,
      imageUrls: ['https://files.test/a.png', 'https://files.test/b.png'],
      generationType: 'FIRST_AND_LAST_FRAMES_2_VIDEO',
      callBackUrl: 'https://bot.test/kie/callback?job=abc',
    });
  });

  it('GIVEN kie does not answer in time WHEN generate is called THEN it throws KieOutcomeUnknownError after exactly one request', async () => {
    const client = kie.makeClient({ generateTimeoutMs: 20 });
    kie.api.intercept(GENERATE).reply(200, ACCEPTED).delay(500);

    const err = await client.generate(TEXT_REQUEST).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieOutcomeUnknownError);
    expect(err).toMatchObject({ reason: 'timeout', attempt: 1 });
    expect(kie.calls()).toHaveLength(1);
    expect(kie.sleep).not.toHaveBeenCalled();
  });

  it('GIVEN kie answers HTTP 500 WHEN generate is called THEN it throws KieOutcomeUnknownError after one request', async () => {
    kie.api.intercept(GENERATE).reply(500, envelope(500, 'Internal Error, Please try again later.'));

    const err = await kie.client.generate(TEXT_REQUEST).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieOutcomeUnknownError);
    expect(err).toMatchObject({ reason: 'server', httpStatus: 500, apiCode: 500 });
    expect(kie.calls()).toHaveLength(1);
  });

  it('GIVEN the socket is reset after sending WHEN generate is called THEN it throws KieOutcomeUnknownError after one request', async () => {
    kie.api.intercept(GENERATE).replyWithError(connectionError('ECONNRESET'));

    const err = await kie.client.generate(TEXT_REQUEST).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieOutcomeUnknownError);
    expect(err).toMatchObject({ reason: 'network' });
    expect(kie.calls()).toHaveLength(1);
  });

  it('GIVEN body code 429 then success WHEN generate is called THEN it retries once and returns the task id', async () => {
    kie.api.intercept(GENERATE).reply(200, envelope(429, 'Too many requests'));
    kie.api.intercept(GENERATE).reply(200, ACCEPTED);

    await expect(kie.client.generate(TEXT_REQUEST)).resolves.toEqual({ taskId: 'task1' });

    expect(kie.calls()).toHaveLength(2);
    expect(kie.sleep).toHaveBeenCalledTimes(1);
  });

  it('GIVEN the connection is refused before sending WHEN generate is called THEN it retries and succeeds', async () => {
    kie.api.intercept(GENERATE).replyWithError(connectionError('ECONNREFUSED'));
    kie.api.intercept(GENERATE).reply(200, ACCEPTED);

    await expect(kie.client.generate(TEXT_REQUEST)).resolves.toEqual({ taskId: 'task1' });

    expect(kie.calls()).toHaveLength(2);
  });

  it('GIVEN HTTP 200 with body code 402 WHEN generate is called THEN it throws KieHttpError 402 without retrying and pauses for credits', async () => {
    kie.api.intercept(GENERATE).reply(200, envelope(402, 'Insufficient credits'));

    const err = await kie.client.generate(TEXT_REQUEST).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieHttpError);
    expect(err).toMatchObject({ httpStatus: 200, apiCode: 402, apiMessage: 'Insufficient credits' });
    expect(kie.calls()).toHaveLength(1);
    expect(kie.client.circuit.state).toBe('paused_credits');
  });

  it('GIVEN the circuit is paused for credits WHEN generate is called THEN it throws KiePausedError without a request', async () => {
    kie.api.intercept(GENERATE).reply(200, envelope(402, 'Insufficient credits'));
    await kie.client.generate(TEXT_REQUEST).catch(() => undefined);

    const err = await kie.client.generate(TEXT_REQUEST).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KiePausedError);
    expect(err).toMatchObject({ reason: 'credits', attempt: 0 });
    expect(kie.calls()).toHaveLength(1);
  });

  it('GIVEN body code 455 on every attempt WHEN generate is called THEN it retries, throws KieHttpError 455 and pauses for maintenance', async () => {
    kie.api.intercept(GENERATE).reply(200, envelope(455, 'Service unavailable')).times(4);

    const err = await kie.client.generate(TEXT_REQUEST).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieHttpError);
    expect(err).toMatchObject({ apiCode: 455, attempt: 4 });
    expect(kie.calls()).toHaveLength(4);
    expect(kie.client.circuit.state).toBe('paused_maintenance');
  });

  it('GIVEN code 200 without a task id WHEN generate is called THEN the outcome is unknown (a task may exist)', async () => {
    kie.api.intercept(GENERATE).reply(200, envelope(200, 'success', {}));

    const err = await kie.client.generate(TEXT_REQUEST).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieOutcomeUnknownError);
    expect(err).toMatchObject({ reason: 'unreadable' });
    expect((err as Error).cause).toBeInstanceOf(KieResponseError);
  });
});

describe('KieClient retries on reads', () => {
  it('GIVEN two 5xx answers then success WHEN recordInfo is called THEN it succeeds after sleeping with growing delays', async () => {
    kie.api.intercept(RECORD).reply(503, 'Service Unavailable').times(2);
    kie.api.intercept(RECORD).reply(200, record({ successFlag: 0 }));

    await expect(kie.client.recordInfo('task1')).resolves.toMatchObject({ status: 'generating' });

    const delays = kie.sleep.mock.calls.map(([ms]) => ms);
    expect(delays).toHaveLength(2);
    expect(delays[1]).toBeGreaterThan(delays[0]!);
  });

  it('GIVEN a persistent 500 WHEN recordInfo is called THEN it throws KieHttpError after maxRetries + 1 attempts', async () => {
    kie.api.intercept(RECORD).reply(500, envelope(500, 'Internal Error, Please try again later.')).times(4);

    const err = await kie.client.recordInfo('task1').catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieHttpError);
    expect(err).toMatchObject({ httpStatus: 500, apiCode: 500, attempt: 4 });
    expect(kie.calls()).toHaveLength(4);
  });

  it('GIVEN HTTP 200 with body code 500 then success WHEN recordInfo is called THEN the body code is retried', async () => {
    kie.api.intercept(RECORD).reply(200, envelope(500, 'Timeout'));
    kie.api.intercept(RECORD).reply(200, record({ successFlag: 0 }));

    await expect(kie.client.recordInfo('task1')).resolves.toMatchObject({ status: 'generating' });
    expect(kie.calls()).toHaveLength(2);
  });

  it('GIVEN a 429 with Retry-After 7 WHEN recordInfo is called THEN it waits 7 s and retries', async () => {
    kie.api.intercept(RECORD).reply(429, envelope(429, 'Too many requests'), { headers: { 'retry-after': '7' } });
    kie.api.intercept(RECORD).reply(200, record({ successFlag: 0 }));

    await kie.client.recordInfo('task1');

    expect(kie.sleep.mock.calls.map(([ms]) => ms)).toEqual([7000]);
  });

  it('GIVEN a 429 with an HTTP-date Retry-After WHEN recordInfo is called THEN it waits until that date', async () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    const client = kie.makeClient({ clock: { now: () => now } });
    const later = new Date(now + 5_000).toUTCString();
    kie.api.intercept(RECORD).reply(429, 'slow down', { headers: { 'retry-after': later } });
    kie.api.intercept(RECORD).reply(200, record({ successFlag: 0 }));

    await client.recordInfo('task1');

    expect(kie.sleep.mock.calls.map(([ms]) => ms)).toEqual([5000]);
  });

  it('GIVEN 429 on every attempt WHEN recordInfo is called THEN it throws KieRateLimitError with retryAfterMs', async () => {
    kie.api
      .intercept(RECORD)
      .reply(429, envelope(429, 'Too many requests'), { headers: { 'retry-after': '2' } })
      .times(4);

    const err = await kie.client.recordInfo('task1').catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieRateLimitError);
    expect(err).toMatchObject({ retryAfterMs: 2000, httpStatus: 429, attempt: 4 });
    expect(kie.sleep).toHaveBeenCalledTimes(3);
  });

  it('GIVEN a slow server WHEN recordInfo is called THEN it throws KieTimeoutError after its retries', async () => {
    const client = kie.makeClient({ timeoutMs: 20, maxRetries: 1 });
    kie.api
      .intercept(RECORD)
      .reply(200, record({ successFlag: 0 }))
      .delay(300)
      .times(2);

    const err = await client.recordInfo('task1').catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieTimeoutError);
    expect(err).toMatchObject({ timeoutMs: 20, attempt: 2 });
    expect(kie.calls()).toHaveLength(2);
  });

  it('GIVEN a connection error then success WHEN credits is called THEN it retries', async () => {
    kie.api.intercept(CREDITS).replyWithError(connectionError('ECONNRESET'));
    kie.api.intercept(CREDITS).reply(200, envelope(200, 'success', 100));

    await expect(kie.client.credits()).resolves.toBe(100);
  });

  it('GIVEN connection errors on every attempt WHEN credits is called THEN it throws KieNetworkError with the code', async () => {
    kie.api.intercept(CREDITS).replyWithError(connectionError('ECONNREFUSED')).times(4);

    const err = await kie.client.credits().catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieNetworkError);
    expect(err).toMatchObject({ errorCode: 'ECONNREFUSED', attempt: 4 });
  });

  it('GIVEN body code 455 then success WHEN recordInfo is called THEN it is retried and the circuit stays closed', async () => {
    kie.api.intercept(RECORD).reply(200, envelope(455, 'Service unavailable'));
    kie.api.intercept(RECORD).reply(200, record({ successFlag: 0 }));

    await kie.client.recordInfo('task1');

    expect(kie.client.circuit.state).toBe('closed');
  });

  it('GIVEN HTTP 200 with body code 401 WHEN recordInfo is called THEN it throws KieHttpError 401 after exactly one request', async () => {
    kie.api.intercept(RECORD).reply(200, envelope(401, 'You do not have access permissions'));

    const err = await kie.client.recordInfo('task1').catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieHttpError);
    expect(err).toMatchObject({ httpStatus: 200, apiCode: 401 });
    expect(kie.calls()).toHaveLength(1);
  });

  it('GIVEN an HTTP 404 without an envelope WHEN recordInfo is called THEN apiCode is the HTTP status and it is not retried', async () => {
    kie.api.intercept(RECORD).reply(404, 'Not Found');

    const err = await kie.client.recordInfo('task1').catch((e: unknown) => e);

    expect(err).toMatchObject({ httpStatus: 404, apiCode: 404, apiMessage: 'Not Found' });
    expect(kie.calls()).toHaveLength(1);
  });

  it('GIVEN a bare HTTP 403 "error code: 1010" WHEN recordInfo is called THEN it throws KieBlockedError without retrying', async () => {
    kie.api.intercept(RECORD).reply(403, 'error code: 1010');

    await expect(kie.client.recordInfo('task1')).rejects.toBeInstanceOf(KieBlockedError);
    expect(kie.calls()).toHaveLength(1);
  });

  it('GIVEN an HTML page with HTTP 200 WHEN recordInfo is called THEN it throws KieResponseError without retrying', async () => {
    kie.api.intercept(RECORD).reply(200, '<html>maintenance</html>');

    await expect(kie.client.recordInfo('task1')).rejects.toBeInstanceOf(KieResponseError);
    expect(kie.calls()).toHaveLength(1);
  });

  it('GIVEN JSON that is not the envelope WHEN recordInfo is called THEN it throws KieResponseError', async () => {
    kie.api.intercept(RECORD).reply(200, JSON.stringify({ status: 'ok', result: [] }));

    await expect(kie.client.recordInfo('task1')).rejects.toBeInstanceOf(KieResponseError);
  });

  it('GIVEN an envelope whose data is null WHEN recordInfo is called THEN it throws KieResponseError', async () => {
    kie.api.intercept(RECORD).reply(200, envelope(200, 'success', null));

    await expect(kie.client.recordInfo('task1')).rejects.toBeInstanceOf(KieResponseError);
  });
});

describe('KieClient.recordInfo mapping', () => {
  it('GIVEN the documented success example WHEN recordInfo is called THEN every field is mapped', async () => {
    kie.api.intercept(RECORD).reply(
      200,
      record({
        paramJson: '{"prompt":"A futuristic city with flying cars at sunset.","waterMark":"KieAI"}',
        completeTime: '2025-06-06 10:30:00',
        response: {
          taskId: 'task1',
          resultUrls: ['http://example.com/video1.mp4'],
          originUrls: ['http://example.com/original_video1.mp4'],
          fullResultUrls: ['http://example.com/full_result.mp4'],
          resolution: '1080p',
        },
        successFlag: 1,
        errorCode: null,
        errorMessage: '',
        createTime: '2025-06-06 10:25:00',
        fallbackFlag: false,
      }),
    );

    await expect(kie.client.recordInfo('task1')).resolves.toStrictEqual({
      taskId: 'task1',
      status: 'succeeded',
      successFlag: 1,
      resultUrls: ['http://example.com/video1.mp4'],
      originUrls: ['http://example.com/original_video1.mp4'],
      fullResultUrls: ['http://example.com/full_result.mp4'],
      resolution: '1080p',
      errorCode: null,
      errorMessage: null,
      params: { prompt: 'A futuristic city with flying cars at sunset.', waterMark: 'KieAI' },
      createdAt: Date.UTC(2025, 5, 6, 10, 25, 0),
      completedAt: Date.UTC(2025, 5, 6, 10, 30, 0),
    });
  });

  it('GIVEN resultUrls as a JSON string WHEN recordInfo is called THEN the string is parsed into URLs', async () => {
    kie.api
      .intercept(RECORD)
      .reply(
        200,
        record({ successFlag: 1, response: { resultUrls: '["https://x.test/1.mp4","https://x.test/2.mp4"]' } }),
      );

    const info = await kie.client.recordInfo('task1');

    expect(info.status).toBe('succeeded');
    expect(info.resultUrls).toEqual(['https://x.test/1.mp4', 'https://x.test/2.mp4']);
  });

  it('GIVEN successFlag 3 WHEN recordInfo is called THEN the task failed with kie error code and message', async () => {
    kie.api.intercept(RECORD).reply(
      200,
      record({
        successFlag: 3,
        response: null,
        errorCode: 501,
        errorMessage: 'Generation failed',
        completeTime: 1755572700000,
      }),
    );

    await expect(kie.client.recordInfo('task1')).resolves.toMatchObject({
      status: 'failed',
      successFlag: 3,
      errorCode: 501,
      errorMessage: 'Generation failed',
      completedAt: 1755572700000,
    });
  });

  it('GIVEN an unknown successFlag without a message WHEN recordInfo is called THEN it is a failure with an explanation', async () => {
    kie.api.intercept(RECORD).reply(200, record({ successFlag: 7, response: null }));

    const info = await kie.client.recordInfo('task1');

    expect(info.status).toBe('failed');
    expect(info.errorMessage).toContain('successFlag 7');
  });

  it('GIVEN successFlag 0 and epoch ms times WHEN recordInfo is called THEN the task is generating with createdAt set', async () => {
    kie.api
      .intercept(RECORD)
      .reply(200, record({ successFlag: 0, response: null, completeTime: null, createTime: 1755572609000 }));

    await expect(kie.client.recordInfo('task1')).resolves.toMatchObject({
      status: 'generating',
      resultUrls: [],
      createdAt: 1755572609000,
      completedAt: null,
    });
  });

  it('GIVEN success without result URLs WHEN recordInfo is called THEN the task failed and errorMessage says why', async () => {
    kie.api.intercept(RECORD).reply(200, record({ successFlag: 1, response: { resultUrls: [] } }));

    const info = await kie.client.recordInfo('task1');

    expect(info.status).toBe('failed');
    expect(info.errorMessage).toMatch(/no result URLs/);
  });

  it('GIVEN paramJson as an object and extra unknown fields WHEN recordInfo is called THEN params is that object', async () => {
    kie.api
      .intercept(RECORD)
      .reply(200, record({ successFlag: 0, paramJson: { prompt: 'p', model: 'veo3' }, somethingNew: 42 }));

    await expect(kie.client.recordInfo('task1')).resolves.toMatchObject({ params: { prompt: 'p', model: 'veo3' } });
  });
});

describe('KieClient.get1080p', () => {
  it('GIVEN body code 400 WHEN get1080p is called THEN it is processing, after one request', async () => {
    kie.api
      .intercept(HD)
      .reply(200, envelope(400, '1080P is processing. It should be ready in 1-2 minutes. Please check back shortly.'));

    await expect(kie.client.get1080p('task1')).resolves.toEqual({ state: 'processing' });
    expect(kie.calls()).toHaveLength(1);
  });

  it('GIVEN a 422 saying "processing" WHEN get1080p is called THEN it is processing', async () => {
    kie.api.intercept(HD).reply(200, envelope(422, '1080p video is Processing, please wait'));

    await expect(kie.client.get1080p('task1')).resolves.toEqual({ state: 'processing' });
  });

  it('GIVEN 200 without resultUrl WHEN get1080p is called THEN it is processing', async () => {
    kie.api.intercept(HD).reply(200, envelope(200, 'success', {}));

    await expect(kie.client.get1080p('task1')).resolves.toEqual({ state: 'processing' });
  });

  it('GIVEN 200 with resultUrl WHEN get1080p is called THEN it is ready with that URL', async () => {
    kie.api.intercept(HD).reply(200, envelope(200, 'success', { resultUrl: 'https://tempfile.test/hd.mp4' }));

    await expect(kie.client.get1080p('task1')).resolves.toEqual({
      state: 'ready',
      url: 'https://tempfile.test/hd.mp4',
    });
  });

  it('GIVEN a 422 "record is null" WHEN get1080p is called THEN it throws KieHttpError 422', async () => {
    kie.api.intercept(HD).reply(200, envelope(422, 'record is null'));

    await expect(kie.client.get1080p('task1')).rejects.toMatchObject({ apiCode: 422, apiMessage: 'record is null' });
  });
});

describe('KieClient.uploadFile and credits', () => {
  const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);

  it('GIVEN image bytes WHEN uploadFile is called THEN it sends multipart file, uploadPath and fileName and returns downloadUrl', async () => {
    let sent: unknown;
    kie.upload.intercept(UPLOAD).reply((opts) => {
      sent = opts.body;
      return {
        statusCode: 200,
        data: JSON.stringify({
          success: true,
          code: 200,
          msg: 'File uploaded successfully',
          data: {
            fileName: 'cat.png',
            filePath: 'veo-bot/cat.png',
            downloadUrl: 'https://tempfile.test/veo-bot/cat.png',
            fileSize: 7,
          },
        }),
      };
    });

    await expect(
      kie.client.uploadFile({ data: bytes, fileName: 'cat.png', mimeType: 'image/png', uploadPath: 'veo-bot' }),
    ).resolves.toEqual({
      downloadUrl: 'https://tempfile.test/veo-bot/cat.png',
    });

    expect(sent).toBeInstanceOf(FormData);
    const form = sent as FormData;
    const file = form.get('file');
    expect(file).toBeInstanceOf(File);
    if (file === null || typeof file === 'string') throw new Error('no file part');
    expect(file.name).toBe('cat.png');
    expect(file.type).toBe('image/png');
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(bytes);
    expect(form.get('uploadPath')).toBe('veo-bot');
    expect(form.get('fileName')).toBe('cat.png');
    expect(kie.calls()[0]?.headers).not.toHaveProperty('content-type', 'application/json');
  });

  it('GIVEN the upload fails twice with 500 WHEN uploadFile is called THEN it retries only once', async () => {
    kie.upload
      .intercept(UPLOAD)
      .reply(500, JSON.stringify({ success: false, code: 500, msg: 'Server error' }))
      .times(2);

    const err = await kie.client
      .uploadFile({ data: bytes, fileName: 'a.png', mimeType: 'image/png', uploadPath: 'x' })
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(KieHttpError);
    expect(kie.calls()).toHaveLength(2);
  });

  it('GIVEN the credit endpoint answers a bare number WHEN credits is called THEN it returns that number', async () => {
    kie.api.intercept(CREDITS).reply(200, envelope(200, 'success', 1234.5));

    await expect(kie.client.credits()).resolves.toBe(1234.5);
  });
});

describe('KieClient secrets', () => {
  it('GIVEN every kind of failure WHEN errors are thrown and logged THEN none carries the API key or the prompt', async () => {
    const prompt = 'my very private prompt text';
    const client = kie.makeClient({ timeoutMs: 20, generateTimeoutMs: 20, maxRetries: 0 });
    kie.api.intercept(RECORD).reply(200, envelope(401, `Invalid key ${KIE_TEST_KEY}`));
    kie.api.intercept(RECORD).reply(500, `upstream echoed Bearer ${KIE_TEST_KEY}`);
    kie.api.intercept(RECORD).reply(200, 'not json');
    kie.api.intercept(RECORD).reply(403, 'error code: 1010');
    kie.api.intercept(RECORD).reply(429, 'slow');
    kie.api.intercept(RECORD).reply(200, record({})).delay(300);
    kie.api.intercept(RECORD).replyWithError(connectionError('ECONNRESET'));
    kie.api.intercept(GENERATE).reply(500, 'boom');
    kie.api.intercept(GENERATE).reply(200, envelope(402, 'no credits'));

    const errors: unknown[] = [];
    for (let i = 0; i < 7; i++) errors.push(await client.recordInfo('task1').catch((e: unknown) => e));
    errors.push(await client.generate({ ...TEXT_REQUEST, prompt }).catch((e: unknown) => e));
    errors.push(await client.generate({ ...TEXT_REQUEST, prompt }).catch((e: unknown) => e));
    errors.push(await client.generate({ ...TEXT_REQUEST, prompt }).catch((e: unknown) => e));

    expect(errors.map((e) => (e as Error).name)).toEqual([
      'KieHttpError',
      'KieHttpError',
      'KieResponseError',
      'KieBlockedError',
      'KieRateLimitError',
      'KieTimeoutError',
      'KieNetworkError',
      'KieOutcomeUnknownError',
      'KieHttpError',
      'KiePausedError',
    ]);
    for (const err of errors) {
      expect(err).toBeInstanceOf(KieError);
      const e = err as KieError;
      for (const text of [e.message, e.stack ?? '', JSON.stringify(e), String(e.cause)]) {
        expect(text).not.toContain(KIE_TEST_KEY);
        expect(text).not.toContain(prompt);
      }
    }
    const logs = JSON.stringify(kie.logger.lines);
    expect(logs).not.toContain(KIE_TEST_KEY);
    expect(logs).not.toContain(prompt);
  });

  it('GIVEN a request WHEN it completes THEN one debug line records method, path, status, code, attempt and duration', async () => {
    kie.api.intercept(CREDITS).reply(200, envelope(200, 'success', 5));

    await kie.client.credits();

    expect(kie.logger.lines).toHaveLength(1);
    expect(kie.logger.lines[0]).toMatchObject({
      level: 'debug',
      fields: {
        method: 'GET',
        path: '/api/v1/chat/credit',
        status: 200,
        code: 200,
        attempt: 1,
        durationMs: expect.any(Number) as unknown,
      },
    });
  });
});

describe('KieCircuit', () => {
  it('GIVEN paused for credits WHEN the probe later sees credits > 0 THEN it closes', async () => {
    vi.useFakeTimers();
    const probe = vi.fn<() => Promise<number>>().mockResolvedValueOnce(0).mockResolvedValue(25);
    const circuit = new KieCircuit({ probe, probeIntervalMs: 60_000 });

    circuit.open('credits');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(circuit.state).toBe('paused_credits');
    await vi.advanceTimersByTimeAsync(60_000);

    expect(circuit.state).toBe('closed');
    expect(probe).toHaveBeenCalledTimes(2);
    circuit.stop();
  });

  it('GIVEN paused for maintenance WHEN the probe fails then answers THEN it closes on the first answer', async () => {
    vi.useFakeTimers();
    const probe = vi.fn<() => Promise<number>>().mockRejectedValueOnce(new Error('455')).mockResolvedValue(0);
    const circuit = new KieCircuit({ probe, probeIntervalMs: 1_000 });

    circuit.open('maintenance');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(circuit.isOpen()).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);

    expect(circuit.state).toBe('closed');
    circuit.stop();
  });

  it('GIVEN repeated opens WHEN the circuit opens and closes THEN it logs once at error and once at info and notifies listeners', () => {
    const logger = recordingLogger();
    const circuit = new KieCircuit({ probe: () => Promise.resolve(0), logger });
    const seen: string[] = [];
    circuit.onChange((state) => seen.push(state));

    circuit.open('credits');
    circuit.open('credits');
    circuit.close();
    circuit.close();
    circuit.stop();

    expect(logger.lines.map((l) => l.level)).toEqual(['error', 'info']);
    expect(seen).toEqual(['paused_credits', 'closed']);
  });

  it('GIVEN a client paused by a 402 WHEN its own probe reads credits > 0 THEN generate is accepted again', async () => {
    vi.useFakeTimers();
    kie.api.intercept(GENERATE).reply(200, envelope(402, 'Insufficient credits'));
    kie.api.intercept(CREDITS).reply(200, envelope(200, 'success', 500));
    kie.api.intercept(GENERATE).reply(200, ACCEPTED);
    await kie.client.generate(TEXT_REQUEST).catch(() => undefined);
    expect(kie.client.circuit.isOpen()).toBe(true);

    await vi.advanceTimersByTimeAsync(60_000);

    expect(kie.client.circuit.state).toBe('closed');
    await expect(kie.client.generate(TEXT_REQUEST)).resolves.toEqual({ taskId: 'task1' });
  });
});
