import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KIE_ANSWER_MAX_BYTES, KieClient } from '../../../../src/services/kie/client.js';
import { KieOutcomeUnknownError, KieResponseError } from '../../../../src/services/kie/errors.js';
import { startLoopbackServer, streamBody, type LoopbackServer } from '../../../helpers/loopbackServer.js';

const MB = 1024 * 1024;
const HUGE = 300 * MB;

describe('kie answers are read with a 1 MiB cap (DESIGN §7)', () => {
  let kie: LoopbackServer;
  let agent: Agent;
  let client: KieClient;
  let written: Promise<number>;

  beforeAll(async () => {
    kie = await startLoopbackServer();
    agent = new Agent();
    client = new KieClient({
      apiBaseUrl: kie.origin,
      uploadBaseUrl: kie.origin,
      apiKey: 'loopback-key-0123456789',
      dispatcher: agent,
      sleep: () => Promise.resolve(),
      timeoutMs: 20_000,
    });
  });

  afterAll(async () => {
    client.close();
    await agent.close();
    await kie.close();
  });

  /** Peak RSS growth (MB) while `run` is pending, sampled every 5 ms. */
  async function peakRssGrowth(run: () => Promise<unknown>): Promise<{ growthMb: number; outcome: unknown }> {
    const before = process.memoryUsage.rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
    const outcome = await run().catch((error: unknown) => error);
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage.rss());
    return { growthMb: (peak - before) / MB, outcome };
  }

  it('GIVEN a 300 MB record-info answer without a length THEN a capped error, no retry, the rest never read, RSS bounded', async () => {
    kie.requests.length = 0;
    kie.handler = (_, res) => {
      written = streamBody(res, HUGE, Buffer.from('{"code":200,"msg":"success","data":{"padding":"'));
    };
    const { growthMb, outcome } = await peakRssGrowth(() => client.recordInfo('task1'));

    expect(outcome).toBeInstanceOf(KieResponseError);
    expect(outcome).toMatchObject({ httpStatus: 200 });
    expect((outcome as Error).message).toContain(String(KIE_ANSWER_MAX_BYTES));
    expect(kie.requests).toHaveLength(1);
    // What crossed the wire: the socket closed a few buffers past the cap, not 300 MB later.
    expect(await written).toBeLessThan(32 * MB);
    // Before the cap this one read took RSS from 100 to 396 MB.
    expect(growthMb).toBeLessThan(64);
  });

  it('GIVEN a declared 300 MB answer THEN it is refused from the headers, before its body', async () => {
    kie.requests.length = 0;
    let unfinished: Promise<boolean> = Promise.resolve(false);
    kie.handler = (_, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(HUGE) });
      res.flushHeaders();
      unfinished = new Promise((resolve) => res.once('close', () => resolve(!res.writableFinished)));
    };
    await expect(client.credits()).rejects.toBeInstanceOf(KieResponseError);
    expect(await unfinished).toBe(true);
    expect(kie.requests).toHaveLength(1);
  });

  it('GIVEN a 300 MB answer to generate THEN the outcome is unknown (a task may exist), and it is not sent again', async () => {
    kie.requests.length = 0;
    kie.handler = (_, res) => {
      written = streamBody(res, HUGE, Buffer.from('{"code":200,"msg":"success","data":{"taskId":"'));
    };
    await expect(client.generate({ prompt: 'a cat', model: 'veo3_fast', aspectRatio: '16:9' })).rejects.toBeInstanceOf(
      KieOutcomeUnknownError,
    );
    expect(kie.requests).toEqual(['POST /api/v1/veo/generate']);
    expect(await written).toBeLessThan(32 * MB);
  });
});
