import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../src/logger.js';
import {
  callbackTaskId,
  HttpServer,
  verifyCallbackSignature,
  type CallbackHint,
} from '../../../../src/services/runtime/http.js';

const NOW = 1_700_000_000_000;
const sign = (key: string, taskId: string, ts: string) =>
  createHmac('sha256', key).update(`${taskId}.${ts}`).digest('base64');

describe('kie callback parsing and signature (DESIGN §7)', () => {
  it('GIVEN each documented body shape THEN the task id is data.taskId ?? data.task_id ?? taskId', () => {
    expect(callbackTaskId({ data: { taskId: 'veo_task_1' } })).toBe('veo_task_1');
    expect(callbackTaskId({ data: { task_id: 'market_2' }, taskId: 'top' })).toBe('market_2');
    expect(callbackTaskId({ taskId: 'top_3', data: null })).toBe('top_3');
    expect(callbackTaskId({ data: {} })).toBeNull();
    expect(callbackTaskId({ data: { taskId: 42 } })).toBeNull();
    expect(callbackTaskId({ data: { taskId: '../../etc' } })).toBeNull();
    expect(callbackTaskId(['taskId'])).toBeNull();
  });

  it('GIVEN signatures THEN only the right key over taskId.timestamp within 5 minutes passes', () => {
    const ts = String(NOW / 1000);
    expect(verifyCallbackSignature('k', 't1', ts, sign('k', 't1', ts), NOW)).toBe('ok');
    expect(verifyCallbackSignature('k', 't1', ts, sign('other', 't1', ts), NOW)).toBe('mismatch');
    expect(verifyCallbackSignature('k', 't1', ts, sign('k', 't2', ts), NOW)).toBe('mismatch');
    // A different length is refused before the constant-time compare (which would throw).
    expect(verifyCallbackSignature('k', 't1', ts, 'abc', NOW)).toBe('mismatch');
    expect(verifyCallbackSignature('k', 't1', ts, undefined, NOW)).toBe('missing');
    expect(verifyCallbackSignature('k', 't1', undefined, sign('k', 't1', ts), NOW)).toBe('missing');
    const old = String(NOW / 1000 - 301);
    expect(verifyCallbackSignature('k', 't1', old, sign('k', 't1', old), NOW)).toBe('stale');
    const edge = String(NOW / 1000 - 300);
    expect(verifyCallbackSignature('k', 't1', edge, sign('k', 't1', edge), NOW)).toBe('ok');
    expect(verifyCallbackSignature('k', 't1', '17e8', sign('k', 't1', '17e8'), NOW)).toBe('stale');
  });
});

describe('HttpServer', () => {
  let server: HttpServer | null = null;

  afterEach(async () => {
    await server?.close();
    server = null;
  });

  async function start(
    overrides: {
      hmacKey?: string;
      onCallback?: (hint: CallbackHint) => Promise<unknown>;
      healthy?: () => Promise<boolean>;
    } = {},
  ) {
    server = new HttpServer({
      port: 0,
      host: '127.0.0.1',
      clock: { now: () => NOW },
      logger: silentLogger,
      hmacKey: overrides.hmacKey,
      healthy: overrides.healthy ?? (() => Promise.resolve(true)),
      ready: () => false,
      metrics: { contentType: 'text/plain; version=0.0.4', text: () => Promise.resolve('# none\n') },
      onCallback: overrides.onCallback ?? (() => Promise.resolve()),
    });
    const port = await server.listen();
    return `http://127.0.0.1:${String(port)}`;
  }

  it('GIVEN a callback whose work never finishes THEN it is still answered 200 at once, with the task id and ?job= handed on', async () => {
    const hints: CallbackHint[] = [];
    const base = await start({
      onCallback: (hint) => {
        hints.push(hint);
        return new Promise(() => undefined);
      },
    });
    const response = await fetch(`${base}/kie/callback?job=abc123`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ code: 200, data: { taskId: 'task_9' } }),
    });
    expect(response.status).toBe(200);
    for (let i = 0; i < 100 && hints.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(hints).toEqual([{ taskId: 'task_9', jobId: 'abc123' }]);
  });

  it('GIVEN no HMAC key THEN unsigned callbacks are accepted; a malformed ?job= is dropped, not trusted', async () => {
    const hints: CallbackHint[] = [];
    const base = await start({ onCallback: (hint) => Promise.resolve(hints.push(hint)) });
    const response = await fetch(`${base}/kie/callback?job=../../x`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"taskId":"t"}',
    });
    expect(response.status).toBe(200);
    for (let i = 0; i < 100 && hints.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(hints).toEqual([{ taskId: 't', jobId: null }]);
  });

  it('GIVEN wrong methods and routes, or a store that fails THEN 405, 404 and an unhealthy 503', async () => {
    const base = await start({ healthy: () => Promise.reject(new Error('SQLITE_CANTOPEN')) });
    expect((await fetch(`${base}/kie/callback`)).status).toBe(405);
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${base}/other`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
  });

  it('GIVEN a body over 64 KiB sent without a length (chunked) THEN 413', async () => {
    const base = await start();
    const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 5) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await fetch(`${base}/kie/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    });
    expect(response.status).toBe(413);
  });
});
