import { createHmac } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../src/logger.js';
import {
  CallbackServer,
  callbackTaskId,
  PUBLIC_TIMEOUT_MS,
  verifyCallbackSignature,
  type CallbackHint,
  type PublicOutcome,
} from '../../../../src/services/runtime/http.js';
import { OpsServer } from '../../../../src/services/runtime/ops.js';

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

describe('CallbackServer (the public listener)', () => {
  let server: CallbackServer | null = null;
  let counted: PublicOutcome[] = [];

  afterEach(async () => {
    await server?.close();
    server = null;
    counted = [];
  });

  async function start(
    overrides: {
      hmacKey?: string;
      onCallback?: (hint: CallbackHint) => Promise<unknown>;
      maxConnections?: number;
    } = {},
  ) {
    server = new CallbackServer({
      port: 0,
      host: '127.0.0.1',
      clock: { now: () => NOW },
      logger: silentLogger,
      hmacKey: overrides.hmacKey,
      onCallback: overrides.onCallback ?? (() => Promise.resolve()),
      count: (outcome) => counted.push(outcome),
      ...(overrides.maxConnections === undefined ? {} : { maxConnections: overrides.maxConnections }),
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
    expect(counted).toEqual(['accepted']);
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

  it('GIVEN the operator paths or any other route on the public port THEN 404, and a GET of the callback 405; each counted', async () => {
    const base = await start();
    for (const path of ['/metrics', '/healthz', '/readyz', '/', '/kie/callback/../metrics', '/other'])
      expect((await fetch(`${base}${path}`)).status).toBe(404);
    expect((await fetch(`${base}/kie/callback`)).status).toBe(405);
    expect(counted).toEqual([
      'not_found',
      'not_found',
      'not_found',
      'not_found',
      'not_found',
      'not_found',
      'refused_405',
    ]);
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
    expect(counted).toEqual(['refused_413']);
  });

  it('GIVEN more open connections than maxConnections THEN the extra one is closed at once, unread', async () => {
    const base = await start({ maxConnections: 2 });
    const port = Number(new URL(base).port);
    const open = (): Promise<Socket> =>
      new Promise((resolve) => {
        const socket = connect(port, '127.0.0.1', () => resolve(socket));
      });
    const held = [await open(), await open()];
    const extra = await open();
    const closed = await new Promise<boolean>((resolve) => {
      extra.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 5_000);
    });
    expect(closed).toBe(true);
    expect(held.every((s) => !s.destroyed)).toBe(true);
    for (const s of held) s.destroy();
  });

  it('GIVEN slow clients (silent, trickling headers, trickling a body) THEN each is closed after the 10 s timeout and long before Node would by default (30 s checks)', async () => {
    const base = await start();
    const port = Number(new URL(base).port);
    const hostile = (send: (socket: Socket) => NodeJS.Timeout | null) =>
      new Promise<{ elapsedMs: number; answer: string }>((resolve) => {
        const started = performance.now();
        let answer = '';
        let timer: NodeJS.Timeout | null = null;
        const socket = connect(port, '127.0.0.1', () => (timer = send(socket)));
        socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
        socket.on('error', () => undefined);
        socket.once('close', () => {
          if (timer) clearInterval(timer);
          resolve({ elapsedMs: performance.now() - started, answer });
        });
        // A generous bound: without connectionsCheckingInterval these sockets live about 30 s.
        setTimeout(() => socket.destroy(), 20_000).unref();
      });
    const trickle = (socket: Socket, text: string) => {
      let i = 0;
      return setInterval(() => {
        if (i < text.length && !socket.destroyed) socket.write(text[i++]!);
      }, 200);
    };
    const results = await Promise.all([
      hostile(() => null),
      hostile((s) => trickle(s, `POST /kie/callback HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(200)}\r\n\r\n`)),
      hostile((s) => {
        s.write(
          'POST /kie/callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n',
        );
        return trickle(s, '{"taskId":"' + 'a'.repeat(500));
      }),
    ]);
    for (const { elapsedMs } of results) {
      expect(elapsedMs).toBeGreaterThanOrEqual(PUBLIC_TIMEOUT_MS - 50);
      expect(elapsedMs).toBeLessThan(20_000);
    }
    // Node answers the two that started a request with 408 before closing.
    expect(results[1].answer).toMatch(/^HTTP\/1\.1 408/);
    expect(results[2].answer).toMatch(/^HTTP\/1\.1 408/);
    // Only the one that got as far as a body reached the handler, which saw it cut off: counted, not an error.
    expect(counted).toEqual(['aborted']);
  });
});

describe('OpsServer (the operator listener)', () => {
  let ops: OpsServer | null = null;

  afterEach(async () => {
    await ops?.close();
    ops = null;
  });

  it('GIVEN probes and metrics THEN they answer here; wrong methods 405, other paths 404, a failing store 503', async () => {
    ops = new OpsServer({
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger,
      healthy: () => Promise.reject(new Error('SQLITE_CANTOPEN')),
      ready: () => false,
      metrics: () => Promise.resolve({ contentType: 'text/plain; version=0.0.4', text: '# none\n' }),
    });
    const base = `http://127.0.0.1:${String(await ops.listen())}`;
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toBe('# none\n');
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${base}/kie/callback`, { method: 'POST' })).status).toBe(404);
  });
});
