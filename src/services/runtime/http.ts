import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../lib/clock.js';
import { isJobId } from '../../lib/jobId.js';
import type { Logger } from '../../logger.js';

export const CALLBACK_PATH = '/kie/callback';
export const MAX_CALLBACK_BYTES = 64 * 1024;
export const SIGNATURE_WINDOW_MS = 5 * 60_000;

/** All a callback is allowed to say: "look at this task now" (DESIGN §4, §7). */
export interface CallbackHint {
  readonly taskId: string;
  /** `?job=` from our own callBackUrl, for adopting a task whose generate answer we never heard. */
  readonly jobId: string | null;
}

/** What the public listener counts (fixed labels): answers it gave, never who asked. */
export type PublicOutcome =
  'accepted' | 'refused_400' | 'refused_401' | 'refused_405' | 'refused_413' | 'aborted' | 'not_found' | 'error';

export interface CallbackServerDeps {
  readonly port: number;
  readonly host?: string | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly hmacKey: string | undefined;
  /** Runs after the 200 has been sent. */
  readonly onCallback: (hint: CallbackHint) => Promise<unknown>;
  /** Told every answer (metrics). */
  readonly count?: (outcome: PublicOutcome) => void;
  readonly maxConnections?: number;
  /** Whole headers, and whole request, within this (DESIGN §7: 10 s). */
  readonly timeoutMs?: number;
  /** How often Node looks for connections past those timeouts (its own default is 30 s). */
  readonly checkIntervalMs?: number;
}

export const PUBLIC_TIMEOUT_MS = 10_000;
export const PUBLIC_CHECK_INTERVAL_MS = 1_000;
export const PUBLIC_MAX_CONNECTIONS = 256;

/** The task ids a callback (or another process handing one on) may name. */
export const TASK_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `data.taskId ?? data.task_id ?? taskId`: Veo, Market-style and top-level shapes. */
export function callbackTaskId(body: unknown): string | null {
  if (!isRecord(body)) return null;
  const data = isRecord(body.data) ? body.data : {};
  const value = data.taskId ?? data.task_id ?? body.taskId;
  return typeof value === 'string' && TASK_ID_PATTERN.test(value) ? value : null;
}

export function signCallback(key: string, taskId: string, timestamp: string): string {
  return createHmac('sha256', key).update(`${taskId}.${timestamp}`).digest('base64');
}

export type SignatureVerdict = 'ok' | 'missing' | 'stale' | 'mismatch';

/** kie's webhook signature: base64 HMAC-SHA256 of `taskId.timestamp`, timestamp in unix seconds. */
export function verifyCallbackSignature(
  key: string,
  taskId: string,
  timestamp: string | undefined,
  signature: string | undefined,
  nowMs: number,
): SignatureVerdict {
  if (!timestamp || !signature) return 'missing';
  if (!/^\d{1,12}$/.test(timestamp)) return 'stale';
  if (Math.abs(nowMs - Number(timestamp) * 1000) > SIGNATURE_WINDOW_MS) return 'stale';
  const expected = Buffer.from(signCallback(key, taskId, timestamp));
  const given = Buffer.from(signature);
  // timingSafeEqual throws on different lengths; a length says nothing about the key.
  if (given.length !== expected.length) return 'mismatch';
  return timingSafeEqual(given, expected) ? 'ok' : 'mismatch';
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function send(
  res: ServerResponse,
  status: number,
  body: string,
  type = 'text/plain; charset=utf-8',
  close = false,
): void {
  const headers: Record<string, string | number> = { 'content-type': type, 'content-length': Buffer.byteLength(body) };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers).end(body);
}

class TooLargeError extends Error {}
/** The client went away (or was cut off by the request timeout) before its body ended. */
class AbortedError extends Error {}

function readBody(req: IncomingMessage, cap: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > cap) {
        req.off('data', onData);
        // Keep draining (discarded) so the 413 can be read by the sender.
        req.resume();
        reject(new TooLargeError());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', () => reject(new AbortedError()));
    req.once('close', () => {
      if (!req.complete) reject(new AbortedError());
    });
  });
}

/** A node:http server's listen and close, for both listeners. */
export class Listener {
  #port: number | null = null;

  constructor(
    readonly server: Server,
    private readonly logger: Logger,
    private readonly name: string,
  ) {}

  /** The bound port (useful with port 0), or null before listen. */
  get port(): number | null {
    return this.#port;
  }

  async listen(port: number, host: string | undefined): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.server.address() as AddressInfo).port;
    this.logger.info({ port: this.#port, host }, `${this.name} listening`);
    return this.#port;
  }

  async close(): Promise<void> {
    if (this.#port === null) return;
    this.#port = null;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

/**
 * The public listener (DESIGN §7): `POST /kie/callback` and nothing else, reachable by kie. Bounded:
 * a connection limit, headers and whole requests within 10 s (checked every second, not Node's 30 s),
 * bodies within 64 KiB; refusals are counted and logged at debug, never a line per request above it.
 */
export class CallbackServer {
  readonly #listener: Listener;

  constructor(private readonly deps: CallbackServerDeps) {
    const timeoutMs = deps.timeoutMs ?? PUBLIC_TIMEOUT_MS;
    const server = createServer(
      {
        headersTimeout: timeoutMs,
        requestTimeout: timeoutMs,
        connectionsCheckingInterval: deps.checkIntervalMs ?? PUBLIC_CHECK_INTERVAL_MS,
      },
      (req, res) => {
        this.#handle(req, res).catch((error: unknown) => {
          deps.count?.('error');
          deps.logger.error({ err: error }, 'http handler failed');
          if (!res.headersSent) send(res, 500, 'internal error\n');
          else res.end();
        });
      },
    );
    server.maxConnections = deps.maxConnections ?? PUBLIC_MAX_CONNECTIONS;
    this.#listener = new Listener(server, deps.logger, 'http server');
  }

  get port(): number | null {
    return this.#listener.port;
  }

  listen(): Promise<number> {
    return this.#listener.listen(this.deps.port, this.deps.host);
  }

  close(): Promise<void> {
    return this.#listener.close();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== CALLBACK_PATH) {
      this.deps.count?.('not_found');
      return send(res, 404, 'not found\n');
    }
    if (req.method !== 'POST') return this.#refuse(res, 405, 'method not allowed');
    return this.#callback(req, res, url);
  }

  async #callback(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const declared = Number(header(req, 'content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > MAX_CALLBACK_BYTES)
      return this.#refuse(res, 413, 'body over 64 KiB', true);
    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_CALLBACK_BYTES);
    } catch (error) {
      if (error instanceof TooLargeError) return this.#refuse(res, 413, 'body over 64 KiB', true);
      if (!(error instanceof AbortedError)) throw error;
      this.deps.count?.('aborted');
      this.deps.logger.debug({}, 'kie callback aborted before its body ended');
      return;
    }
    const type = (header(req, 'content-type') ?? '').toLowerCase();
    if (!type.startsWith('application/json')) return this.#refuse(res, 400, 'not JSON');
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8')) as unknown;
    } catch {
      return this.#refuse(res, 400, 'not JSON');
    }
    const taskId = callbackTaskId(body);
    if (taskId === null) return this.#refuse(res, 400, 'no task id');
    if (this.deps.hmacKey !== undefined) {
      const verdict = verifyCallbackSignature(
        this.deps.hmacKey,
        taskId,
        header(req, 'x-webhook-timestamp'),
        header(req, 'x-webhook-signature'),
        this.deps.clock.now(),
      );
      if (verdict !== 'ok') return this.#refuse(res, 401, `signature ${verdict}`, false, taskId);
    }
    const jobParam = url.searchParams.get('job');
    const jobId = jobParam !== null && isJobId(jobParam) ? jobParam : null;
    this.deps.count?.('accepted');
    send(res, 200, '{"code":200,"msg":"ok"}', 'application/json');
    // The body is not trusted (only taskId and timestamp are signed): it only prompts a record-info read.
    setImmediate(() => {
      this.deps.onCallback({ taskId, jobId }).catch((error: unknown) => {
        this.deps.logger.warn({ taskId, jobId, err: error }, 'kie callback handling failed');
      });
    });
  }

  #refuse(res: ServerResponse, status: 400 | 401 | 405 | 413, reason: string, close = false, taskId?: string): void {
    this.deps.count?.(`refused_${status}`);
    // Anyone may send these: a line above debug each would let them fill the operator's disk.
    this.deps.logger.debug({ status, reason, taskId }, 'kie callback refused');
    send(res, status, `${reason}\n`, 'text/plain; charset=utf-8', close);
  }
}
