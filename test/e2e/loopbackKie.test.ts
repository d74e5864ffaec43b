import { Agent, request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KieClient, type KieClientOptions } from '../../src/services/kie/client.js';
import { describeKieFailure, KieHttpError, KieOutcomeUnknownError } from '../../src/services/kie/errors.js';
import type { GenerateRequest, TaskInfo } from '../../src/services/kie/types.js';
import { LoopbackKie } from './helpers/loopbackKie.js';

const REQUEST: GenerateRequest = { prompt: 'a lighthouse in a storm', model: 'veo3_fast', aspectRatio: '16:9' };

let kie: LoopbackKie;
let agent: Agent;
let clients: KieClient[];

function clientFor(overrides: Partial<KieClientOptions> = {}): KieClient {
  const client = new KieClient({
    apiBaseUrl: kie.baseUrl,
    uploadBaseUrl: kie.baseUrl,
    apiKey: kie.apiKey,
    dispatcher: agent,
    retryBaseMs: 1,
    ...overrides,
  });
  clients.push(client);
  return client;
}

async function download(url: string): Promise<{ status: number; type: string | undefined; bytes: Buffer }> {
  const res = await request(url, { dispatcher: agent });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, type: res.headers['content-type'] as string | undefined, bytes };
}

async function pollUntilDone(client: KieClient, taskId: string): Promise<{ info: TaskInfo; reads: number }> {
  for (let reads = 1; reads <= 10; reads++) {
    const info = await client.recordInfo(taskId);
    if (info.status !== 'generating') return { info, reads };
  }
  throw new Error('task never finished');
}

beforeEach(async () => {
  kie = await LoopbackKie.start({ videoBytes: 100_000 });
  agent = new Agent();
  clients = [];
});

afterEach(async () => {
  for (const client of clients) client.close();
  await agent.close();
  await kie.close();
});

describe('LoopbackKie with the real KieClient', () => {
  it('GIVEN a text prompt WHEN generated, polled and downloaded THEN the bytes are an mp4 of the configured size', async () => {
    const client = clientFor();

    const { taskId } = await client.generate(REQUEST);
    const { info, reads } = await pollUntilDone(client, taskId);
    const video = await download(info.resultUrls[0]!);

    expect(taskId).toMatch(/^[0-9a-f]{32}$/);
    expect(reads).toBe(2);
    expect(info).toMatchObject({
      status: 'succeeded',
      successFlag: 1,
      params: { prompt: REQUEST.prompt, model: 'veo3_fast' },
    });
    expect(info.createdAt).toEqual(expect.any(Number));
    expect(info.completedAt).toEqual(expect.any(Number));
    expect(video.status).toBe(200);
    expect(video.type).toBe('video/mp4');
    expect(video.bytes).toHaveLength(100_000);
    expect(video.bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    const [sent] = kie.generateRequests();
    expect(sent?.json).toStrictEqual({
      prompt: REQUEST.prompt,
      model: 'veo3_fast',
      aspect_ratio: '16:9',
      enableTranslation: true,
      generationType: 'TEXT_2_VIDEO',
    });
    expect(String(sent?.headers['user-agent'])).toMatch(/^VeoBot\//);
    expect(sent?.taskId).toBe(taskId);
  });

  it('GIVEN an HD script WHEN get1080p is called repeatedly THEN it is processing three ways and then ready', async () => {
    const client = clientFor();
    kie.autoComplete = null;
    const { taskId } = await client.generate(REQUEST);
    kie.completeTask(taskId);
    kie.setHdScript(taskId, ['processing-400', 'processing-422', 'processing-200', 'ready']);

    const states = [];
    for (let i = 0; i < 4; i++) states.push(await client.get1080p(taskId));
    const last = states[3];
    const hd = last?.state === 'ready' ? await download(last.url) : null;

    expect(states.slice(0, 3)).toEqual([{ state: 'processing' }, { state: 'processing' }, { state: 'processing' }]);
    expect(last).toEqual({ state: 'ready', url: `${kie.baseUrl}/files/${taskId}-1080p.mp4` });
    expect(hd?.bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
  });

  it('GIVEN an image WHEN uploaded THEN the multipart fields arrive and the downloadUrl serves the same bytes', async () => {
    const client = clientFor();
    const png = Buffer.from([
      0x89,
      0x50,
      0x4e,
      0x47,
      0x0d,
      0x0a,
      0x1a,
      0x0a,
      ...Array.from({ length: 500 }, (_, i) => i % 256),
    ]);

    const { downloadUrl } = await client.uploadFile({
      data: png,
      fileName: 'first.png',
      mimeType: 'image/png',
      uploadPath: 'veo-bot/job1',
    });
    const back = await download(downloadUrl);

    const upload = await kie.waitFor((r) => r.path === '/api/file-stream-upload');
    expect(upload.multipart?.fields).toMatchObject({ uploadPath: 'veo-bot/job1', fileName: 'first.png' });
    expect(upload.multipart?.files).toEqual([
      { field: 'file', fileName: 'first.png', mimeType: 'image/png', bytes: png },
    ]);
    expect(back).toMatchObject({ status: 200, type: 'image/png' });
    expect(back.bytes.equals(png)).toBe(true);
  });

  it('GIVEN the upload fails once with HTTP 500 WHEN uploading THEN the single retry succeeds', async () => {
    const client = clientFor();
    kie.uploadBehavior.push({ httpStatus: 500 });

    await expect(
      client.uploadFile({ data: new Uint8Array([1, 2, 3]), fileName: 'a.png', mimeType: 'image/png', uploadPath: 'x' }),
    ).resolves.toMatchObject({
      downloadUrl: expect.stringContaining('/files/uploads/x/a.png') as unknown,
    });
    expect(kie.requests.filter((r) => r.path === '/api/file-stream-upload')).toHaveLength(2);
  });

  it('GIVEN a task that fails on content policy WHEN polled THEN the failure is described as content_policy', async () => {
    const client = clientFor();
    kie.autoComplete = {
      afterReads: 0,
      outcome: { errorCode: 400, errorMessage: 'Your prompt was flagged by Website as violating content policies.' },
    };

    const { taskId } = await client.generate(REQUEST);
    const { info, reads } = await pollUntilDone(client, taskId);

    expect(reads).toBe(1);
    expect(info).toMatchObject({ status: 'failed', successFlag: 2, errorCode: 400 });
    expect(describeKieFailure(info.errorCode, info.errorMessage).reason).toBe('content_policy');
  });

  it('GIVEN a wrong API key WHEN credits is called THEN it fails with body code 401 after one request', async () => {
    const client = clientFor({ apiKey: 'not-the-key' });

    await expect(client.credits()).rejects.toMatchObject({ httpStatus: 200, apiCode: 401 });
    expect(kie.requests).toHaveLength(1);
  });

  it('GIVEN generate is refused with 402 WHEN called THEN it throws and the circuit pauses for credits', async () => {
    const client = clientFor();
    kie.nextGenerate({ kind: 'error', code: 402, msg: 'Insufficient credits' });

    await expect(client.generate(REQUEST)).rejects.toBeInstanceOf(KieHttpError);
    expect(client.circuit.state).toBe('paused_credits');
    await expect(client.credits()).resolves.toBe(1000);
  });

  it('GIVEN kie hangs on generate WHEN it times out THEN the outcome is unknown after exactly one request', async () => {
    const client = clientFor({ generateTimeoutMs: 150 });
    kie.nextGenerate({ kind: 'hang' });

    await expect(client.generate(REQUEST)).rejects.toBeInstanceOf(KieOutcomeUnknownError);
    expect(kie.generateRequests()).toHaveLength(1);
    expect(kie.tasks.size).toBe(0);
  });
});
