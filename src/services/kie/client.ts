import { File } from 'node:buffer';
import { FormData, request, type Dispatcher } from 'undici';
import { declaredLength, readCapped } from '../../lib/download.js';
import { silentLogger, type Logger } from '../../logger.js';
import { realSleep, systemClock, type Clock, type Sleep } from '../../lib/clock.js';
import { USER_AGENT } from '../../version.js';
import { KieCircuit } from './circuit.js';
import { KieHttpError, KiePausedError } from './errors.js';
import type { ExtendRequest, GenerateRequest, HdResult, TaskInfo, UploadRequest, UploadResult } from './types.js';
import {
  apiCodeOf,
  errorCodeOf,
  judge,
  readData,
  requestCode,
  type Answer,
  type CallFacts,
  type RawResult,
} from './verdict.js';
import {
  creditsSchema,
  extendBody,
  generateBody,
  generateDataSchema,
  hdDataSchema,
  recordSchema,
  toTaskInfo,
  uhdBody,
  uhdDataSchema,
  uploadDataSchema,
} from './wire.js';

export interface KieClientOptions {
  apiBaseUrl: string;
  uploadBaseUrl: string;
  apiKey: string;
  /** The test seam (MockAgent) and the place to tune pooling; undici's global dispatcher otherwise. */
  dispatcher?: Dispatcher;
  timeoutMs?: number;
  /** generate gets longer: cutting it short turns a slow success into an unknown outcome. */
  generateTimeoutMs?: number;
  maxRetries?: number;
  retryBaseMs?: number;
  sleep?: Sleep;
  random?: () => number;
  clock?: Clock;
  logger?: Logger;
  circuit?: KieCircuit;
  userAgent?: string;
  /** Told about every attempt (metrics): the path without query, and the answer's code. */
  onRequest?: (sample: { path: string; code: string }) => void;
}

const GENERATE_PATH = '/api/v1/veo/generate';
const EXTEND_PATH = '/api/v1/veo/extend';
const MAX_BACKOFF_MS = 30_000;
/** No kie answer is near this; a larger one is refused unread (DESIGN §7). */
export const KIE_ANSWER_MAX_BYTES = 1024 * 1024;

interface Call extends CallFacts {
  url: string;
  json?: unknown;
  /** Built per attempt because a sent FormData stream cannot be replayed. */
  form?: () => FormData;
  maxRetries: number;
}

export class KieClient {
  readonly circuit: KieCircuit;
  private readonly apiBaseUrl: string;
  private readonly uploadBaseUrl: string;
  private readonly apiKey: string;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly timeoutMs: number;
  private readonly generateTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly retryBaseMs: number;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly userAgent: string;
  private readonly ownsCircuit: boolean;
  private readonly onRequest: KieClientOptions['onRequest'];

  constructor(options: KieClientOptions) {
    this.apiBaseUrl = options.apiBaseUrl.replace(/\/+$/, '');
    this.uploadBaseUrl = options.uploadBaseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.dispatcher = options.dispatcher;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.generateTimeoutMs = options.generateTimeoutMs ?? 60_000;
    this.maxRetries = options.maxRetries ?? 3;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.userAgent = options.userAgent ?? USER_AGENT;
    this.onRequest = options.onRequest;
    this.ownsCircuit = options.circuit === undefined;
    this.circuit = options.circuit ?? new KieCircuit({ probe: () => this.credits(), logger: this.logger });
  }

  /** Stops the probe timer of a circuit this client created. */
  close(): void {
    if (this.ownsCircuit) this.circuit.stop();
  }

  async generate(req: GenerateRequest): Promise<{ taskId: string }> {
    return this.createTask(GENERATE_PATH, generateBody(req));
  }

  /** Charged like a generation, so retried under the same rule: only when no task can have been made. */
  async extend(req: ExtendRequest): Promise<{ taskId: string }> {
    return this.createTask(EXTEND_PATH, extendBody(req));
  }

  private async createTask(path: string, json: Record<string, unknown>): Promise<{ taskId: string }> {
    const paused = this.circuit.pauseReason();
    if (paused) throw new KiePausedError({ method: 'POST', path, attempt: 0, reason: paused });
    const call: Call = {
      method: 'POST',
      url: this.apiBaseUrl + path,
      path,
      json,
      policy: 'generate',
      maxRetries: this.maxRetries,
      timeoutMs: this.generateTimeoutMs,
    };
    try {
      const answer = await this.request(call);
      return { taskId: readData(generateDataSchema, answer, call).taskId };
    } catch (err) {
      if (err instanceof KieHttpError && err.apiCode === 402) this.circuit.open('credits');
      if (err instanceof KieHttpError && err.apiCode === 455) this.circuit.open('maintenance');
      throw err;
    }
  }

  async recordInfo(taskId: string): Promise<TaskInfo> {
    const call = this.readCall(`/api/v1/veo/record-info?taskId=${encodeURIComponent(taskId)}`);
    const answer = await this.request(call);
    return toTaskInfo(readData(recordSchema, answer, call), taskId);
  }

  /** "Processing" is an answer, not an error, and is not retried here: the caller checks again later. */
  async get1080p(taskId: string, index = 0): Promise<HdResult> {
    const call: Call = {
      ...this.readCall(`/api/v1/veo/get-1080p-video?taskId=${encodeURIComponent(taskId)}&index=${index}`),
      passes: (code, msg) => code === 400 || (code === 422 && /processing/i.test(msg)),
    };
    const answer = await this.request(call);
    if (answer.code !== 200) return { state: 'processing' };
    const url = readData(hdDataSchema, answer, call)?.resultUrl;
    return url ? { state: 'ready', url } : { state: 'processing' };
  }

  /**
   * POST get-4k-video, which kie documents as the way to ask again too: a 422 "4k is processing" (or a
   * first 200 without URLs) is processing, URLs mean ready, and a 500 "unavailable" is kie's final no.
   */
  async get4k(taskId: string, index = 0, callBackUrl?: string): Promise<HdResult> {
    const path = '/api/v1/veo/get-4k-video';
    const call: Call = {
      method: 'POST',
      url: this.apiBaseUrl + path,
      path,
      json: uhdBody(taskId, index, callBackUrl),
      policy: 'read',
      maxRetries: this.maxRetries,
      timeoutMs: this.timeoutMs,
      passes: (code, msg) =>
        (code === 422 && /processing|success/i.test(msg)) || (code === 500 && /unavailable/i.test(msg)),
    };
    const answer = await this.request(call);
    if (answer.code === 500) return { state: 'failed' };
    const [url] = readData(uhdDataSchema, answer, call);
    return url ? { state: 'ready', url } : { state: 'processing' };
  }

  async uploadFile(req: UploadRequest): Promise<UploadResult> {
    const path = '/api/file-stream-upload';
    const call: Call = {
      method: 'POST',
      url: this.uploadBaseUrl + path,
      path,
      form: () => {
        const form = new FormData();
        form.append('file', new File([req.data], req.fileName, { type: req.mimeType }), req.fileName);
        form.append('uploadPath', req.uploadPath);
        form.append('fileName', req.fileName);
        return form;
      },
      policy: 'read',
      maxRetries: Math.min(1, this.maxRetries),
      timeoutMs: this.timeoutMs,
    };
    const answer = await this.request(call);
    return { downloadUrl: readData(uploadDataSchema, answer, call).downloadUrl };
  }

  async credits(): Promise<number> {
    const call = this.readCall('/api/v1/chat/credit');
    const answer = await this.request(call);
    return readData(creditsSchema, answer, call);
  }

  private readCall(path: string): Call {
    return {
      method: 'GET',
      url: this.apiBaseUrl + path,
      path,
      policy: 'read',
      maxRetries: this.maxRetries,
      timeoutMs: this.timeoutMs,
    };
  }

  /** The one place that talks HTTP: headers, per-attempt timeout, body-code verdict, retries. */
  private async request(call: Call): Promise<Answer> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.apiKey}`,
      'user-agent': this.userAgent,
      accept: 'application/json',
    };
    if (call.json !== undefined) headers['content-type'] = 'application/json';

    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, call.timeoutMs);
      let raw: RawResult;
      try {
        const body = call.form ? call.form() : call.json === undefined ? undefined : JSON.stringify(call.json);
        const res = await request(call.url, {
          method: call.method,
          headers,
          body: body ?? null,
          signal: controller.signal,
          ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
        });
        // The timeout covers the body too: a server can stall after the headers.
        const read = await readCapped(res.body, {
          capBytes: KIE_ANSWER_MAX_BYTES,
          declaredBytes: declaredLength(res.headers['content-length']),
        });
        raw =
          read.kind === 'ok'
            ? { kind: 'response', status: res.statusCode, headers: res.headers, text: read.data.toString('utf8') }
            : { kind: 'oversize', status: res.statusCode, capBytes: KIE_ANSWER_MAX_BYTES };
      } catch (err) {
        raw = { kind: 'thrown', err, timedOut };
      } finally {
        clearTimeout(timer);
      }

      const verdict = judge(call, raw, attempt, { apiKey: this.apiKey, now: this.clock.now() });
      const retrying = verdict.kind === 'failure' && verdict.retryable && attempt <= call.maxRetries;
      const delayMs = retrying ? (verdict.retryAfterMs ?? this.backoff(attempt)) : undefined;
      this.logger.debug(
        {
          method: call.method,
          path: call.path,
          status: raw.kind === 'thrown' ? null : raw.status,
          code: verdict.kind === 'answer' ? verdict.answer.code : apiCodeOf(verdict.error),
          error: raw.kind === 'thrown' ? (raw.timedOut ? 'timeout' : (errorCodeOf(raw.err) ?? 'network')) : undefined,
          attempt,
          durationMs: Math.round(performance.now() - started),
          retryInMs: delayMs,
        },
        'kie request',
      );
      this.onRequest?.({ path: call.path.split('?')[0] ?? call.path, code: requestCode(raw, verdict) });
      if (verdict.kind === 'answer') return verdict.answer;
      if (delayMs === undefined) throw verdict.error;
      await this.sleep(delayMs);
    }
  }

  /** Exponential with equal jitter: the delays still grow while two clients do not retry in step. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(MAX_BACKOFF_MS, this.retryBaseMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }
}
