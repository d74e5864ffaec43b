import { File } from 'node:buffer';
import { FormData, request, type Dispatcher } from 'undici';
import { z } from 'zod';
import { silentLogger, type Logger } from '../../logger.js';
import { realSleep, systemClock, type Clock, type Sleep } from '../../lib/clock.js';
import { USER_AGENT } from '../../version.js';
import { KieCircuit } from './circuit.js';
import {
  KieBlockedError,
  KieHttpError,
  KieNetworkError,
  KieOutcomeUnknownError,
  KiePausedError,
  KieRateLimitError,
  KieResponseError,
  KieTimeoutError,
  trimKieMessage,
  type KieError,
} from './errors.js';
import type {
  ExtendRequest,
  GenerateRequest,
  HdResult,
  TaskInfo,
  UploadRequest,
  UploadResult,
  VeoModel,
} from './types.js';

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

/** What the rest of the bot needs from kie; fakes implement this instead of mocking the module. */
export interface KieApi {
  readonly circuit: KieCircuit;
  generate(req: GenerateRequest): Promise<{ taskId: string }>;
  extend(req: ExtendRequest): Promise<{ taskId: string }>;
  recordInfo(taskId: string): Promise<TaskInfo>;
  get1080p(taskId: string, index?: number): Promise<HdResult>;
  uploadFile(req: UploadRequest): Promise<UploadResult>;
  credits(): Promise<number>;
}

const GENERATE_PATH = '/api/v1/veo/generate';
const EXTEND_PATH = '/api/v1/veo/extend';
/** The extend endpoint has its own model enum (kie-veo-api.md §3c). */
export const EXTEND_MODELS: Readonly<Record<VeoModel, 'fast' | 'quality' | 'lite'>> = {
  veo3_fast: 'fast',
  veo3: 'quality',
  veo3_lite: 'lite',
};
const MAX_BACKOFF_MS = 30_000;
/** A longer Retry-After is handed to the caller (KieRateLimitError) rather than slept through here. */
const MAX_RETRY_AFTER_MS = 60_000;
/** Errors raised before a single byte left: generate may retry them without risking a second charge. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
/** Body codes that mean a transient server fault (501 and 505 are verdicts, not faults). */
const SERVER_CODES = new Set([500, 502, 503, 504]);

type RetryPolicy = 'read' | 'generate';

interface Call {
  method: 'GET' | 'POST';
  url: string;
  /** Path plus query, for logs and errors; never holds a secret. */
  path: string;
  json?: unknown;
  /** Built per attempt because a sent FormData stream cannot be replayed. */
  form?: () => FormData;
  policy: RetryPolicy;
  maxRetries: number;
  timeoutMs: number;
  /** Body codes other than 200 that the caller interprets itself (get-1080p's "processing"). */
  passes?: (code: number, msg: string) => boolean;
}

interface Answer {
  httpStatus: number;
  code: number;
  msg: string;
  data: unknown;
  attempt: number;
}

type RawResult =
  | { kind: 'response'; status: number; headers: Record<string, string | string[] | undefined>; text: string }
  | { kind: 'thrown'; err: unknown; timedOut: boolean };

type Verdict =
  | { kind: 'answer'; answer: Answer }
  | { kind: 'failure'; error: KieError; retryable: boolean; retryAfterMs: number | null };

export class KieClient implements KieApi {
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
      return { taskId: this.parseData(generateDataSchema, answer, call).taskId };
    } catch (err) {
      if (err instanceof KieHttpError && err.apiCode === 402) this.circuit.open('credits');
      if (err instanceof KieHttpError && err.apiCode === 455) this.circuit.open('maintenance');
      throw err;
    }
  }

  async recordInfo(taskId: string): Promise<TaskInfo> {
    const call = this.readCall(`/api/v1/veo/record-info?taskId=${encodeURIComponent(taskId)}`);
    const answer = await this.request(call);
    return toTaskInfo(this.parseData(recordSchema, answer, call), taskId);
  }

  /** "Processing" is an answer, not an error, and is not retried here: the caller checks again later. */
  async get1080p(taskId: string, index = 0): Promise<HdResult> {
    const call: Call = {
      ...this.readCall(`/api/v1/veo/get-1080p-video?taskId=${encodeURIComponent(taskId)}&index=${index}`),
      passes: (code, msg) => code === 400 || (code === 422 && /processing/i.test(msg)),
    };
    const answer = await this.request(call);
    if (answer.code !== 200) return { state: 'processing' };
    const url = this.parseData(hdDataSchema, answer, call)?.resultUrl;
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
    return { downloadUrl: this.parseData(uploadDataSchema, answer, call).downloadUrl };
  }

  async credits(): Promise<number> {
    const call = this.readCall('/api/v1/chat/credit');
    const answer = await this.request(call);
    return this.parseData(creditsSchema, answer, call);
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
        const text = await res.body.text();
        raw = { kind: 'response', status: res.statusCode, headers: res.headers, text };
      } catch (err) {
        raw = { kind: 'thrown', err, timedOut };
      } finally {
        clearTimeout(timer);
      }

      const verdict = this.judge(call, raw, attempt);
      const retrying = verdict.kind === 'failure' && verdict.retryable && attempt <= call.maxRetries;
      const delayMs = retrying ? (verdict.retryAfterMs ?? this.backoff(attempt)) : undefined;
      this.logger.debug(
        {
          method: call.method,
          path: call.path,
          status: raw.kind === 'response' ? raw.status : null,
          code: verdict.kind === 'answer' ? verdict.answer.code : apiCodeOf(verdict.error),
          error: raw.kind === 'thrown' ? (timedOut ? 'timeout' : (errorCodeOf(raw.err) ?? 'network')) : undefined,
          attempt,
          durationMs: Math.round(performance.now() - started),
          retryInMs: delayMs,
        },
        'kie request',
      );
      this.onRequest?.({ path: call.path.split('?')[0] ?? call.path, code: requestCode(raw, verdict, timedOut) });
      if (verdict.kind === 'answer') return verdict.answer;
      if (delayMs === undefined) throw verdict.error;
      await this.sleep(delayMs);
    }
  }

  private judge(call: Call, raw: RawResult, attempt: number): Verdict {
    const context = { method: call.method, path: call.path, attempt };
    const generate = call.policy === 'generate';

    if (raw.kind === 'thrown') {
      if (raw.timedOut) {
        const timeout = new KieTimeoutError({ ...context, timeoutMs: call.timeoutMs, cause: raw.err });
        if (generate) return fail(new KieOutcomeUnknownError({ ...context, reason: 'timeout', cause: timeout }), false);
        return fail(timeout, true);
      }
      const errorCode = errorCodeOf(raw.err);
      const network = new KieNetworkError({ ...context, errorCode, cause: raw.err });
      if (generate && !(errorCode && NOT_SENT_CODES.has(errorCode))) {
        return fail(new KieOutcomeUnknownError({ ...context, reason: 'network', cause: network }), false);
      }
      return fail(network, true);
    }

    const { status, text } = raw;
    if (status === 403 && text.toLowerCase().includes('error code: 1010'))
      return fail(new KieBlockedError(context), false);

    const json = parseJson(text);
    const envelope = envelopeSchema.safeParse(json);
    let apiCode: number;
    let apiMessage: string;
    if (envelope.success) {
      const { code, msg, data } = envelope.data;
      apiCode = code;
      apiMessage = this.redact(trimKieMessage(msg));
      if (code === 200 || call.passes?.(code, apiMessage)) {
        return { kind: 'answer', answer: { httpStatus: status, code, msg: apiMessage, data, attempt } };
      }
    } else if (status >= 200 && status < 300) {
      const detail =
        json === undefined ? 'not JSON' : `not the {code, msg, data} envelope (${summarise(envelope.error)})`;
      const error = new KieResponseError({ ...context, httpStatus: status, detail });
      if (generate)
        return fail(
          new KieOutcomeUnknownError({ ...context, reason: 'unreadable', httpStatus: status, cause: error }),
          false,
        );
      return fail(error, false);
    } else {
      apiCode = status;
      apiMessage = this.redact(trimKieMessage(looseMessage(json) ?? text));
    }

    const answer = { ...context, httpStatus: status, apiCode, apiMessage };
    const retryAfterMs = parseRetryAfter(raw.headers['retry-after'], this.clock.now());
    if (apiCode === 429 || status === 429) {
      const retryable = retryAfterMs === null || retryAfterMs <= MAX_RETRY_AFTER_MS;
      return fail(new KieRateLimitError({ ...answer, retryAfterMs }), retryable, retryAfterMs);
    }
    if (apiCode === 455) return fail(new KieHttpError(answer), true, retryAfterMs);
    if (SERVER_CODES.has(apiCode) || (!envelope.success && status >= 500)) {
      if (generate) return fail(new KieOutcomeUnknownError({ ...answer, reason: 'server' }), false);
      return fail(new KieHttpError(answer), true, retryAfterMs);
    }
    return fail(new KieHttpError(answer), false);
  }

  /** Reads a 200 answer's `data`; for generate an unreadable 200 means a task we cannot name. */
  private parseData<T>(schema: z.ZodType<T>, answer: Answer, call: Call): T {
    const parsed = schema.safeParse(answer.data);
    if (parsed.success) return parsed.data;
    const context = { method: call.method, path: call.path, attempt: answer.attempt };
    const error = new KieResponseError({
      ...context,
      httpStatus: answer.httpStatus,
      detail: `unexpected data (${summarise(parsed.error)})`,
    });
    if (call.policy === 'generate') {
      throw new KieOutcomeUnknownError({
        ...context,
        reason: 'unreadable',
        httpStatus: answer.httpStatus,
        apiCode: answer.code,
        cause: error,
      });
    }
    throw error;
  }

  /** Exponential with equal jitter: the delays still grow while two clients do not retry in step. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(MAX_BACKOFF_MS, this.retryBaseMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  private redact(text: string): string {
    return this.apiKey.length >= 4 ? text.split(this.apiKey).join('[redacted]') : text;
  }
}

function fail(error: KieError, retryable: boolean, retryAfterMs: number | null = null): Verdict {
  return { kind: 'failure', error, retryable, retryAfterMs };
}

function generateBody(req: GenerateRequest): Record<string, unknown> {
  const images = req.imageUrls && req.imageUrls.length > 0 ? req.imageUrls : undefined;
  return {
    prompt: req.prompt,
    model: req.model,
    aspect_ratio: req.aspectRatio,
    enableTranslation: true,
    ...(req.seed !== undefined ? { seeds: req.seed } : {}),
    ...(images
      ? { imageUrls: [...images], generationType: 'FIRST_AND_LAST_FRAMES_2_VIDEO' }
      : { generationType: 'TEXT_2_VIDEO' }),
    ...(req.callBackUrl ? { callBackUrl: req.callBackUrl } : {}),
  };
}

function extendBody(req: ExtendRequest): Record<string, unknown> {
  return {
    taskId: req.taskId,
    prompt: req.prompt,
    model: EXTEND_MODELS[req.model],
    ...(req.seed !== undefined ? { seeds: req.seed } : {}),
    ...(req.callBackUrl ? { callBackUrl: req.callBackUrl } : {}),
  };
}

/** The body code when there is one, else the HTTP status, else how the attempt ended. */
function requestCode(raw: RawResult, verdict: Verdict, timedOut: boolean): string {
  if (verdict.kind === 'answer') return String(verdict.answer.code);
  const code = apiCodeOf(verdict.error);
  if (code !== null) return String(code);
  if (raw.kind === 'response') return String(raw.status);
  return timedOut ? 'timeout' : 'network';
}

function apiCodeOf(error: KieError): number | null {
  return 'apiCode' in error && typeof error.apiCode === 'number' ? error.apiCode : null;
}

/** Node and undici put the code on the error, its cause, or the members of an AggregateError. */
function errorCodeOf(err: unknown, depth = 0): string | null {
  if (depth > 4 || typeof err !== 'object' || err === null) return null;
  if ('code' in err && typeof err.code === 'string') return err.code;
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const code = errorCodeOf(inner, depth + 1);
      if (code) return code;
    }
  }
  return 'cause' in err ? errorCodeOf(err.cause, depth + 1) : null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function looseMessage(json: unknown): string | null {
  if (typeof json !== 'object' || json === null) return null;
  for (const key of ['msg', 'message', 'error']) {
    const value = (json as Record<string, unknown>)[key];
    if (typeof value === 'string') return value;
  }
  return null;
}

function summarise(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

function parseRetryAfter(value: string | string[] | undefined, now: number): number | null {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return null;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

// ---- Wire shapes: tolerant at the boundary, because kie's docs disagree with each other. ----

const intLike = z.union([
  z.number().int(),
  z
    .string()
    .trim()
    .regex(/^-?\d+$/)
    .transform(Number),
]);

const envelopeSchema = z.object({
  code: intLike,
  msg: z
    .unknown()
    .optional()
    .transform((v) => (typeof v === 'string' ? v : v == null ? '' : JSON.stringify(v))),
  data: z.unknown().optional(),
});

const generateDataSchema = z.object({ taskId: z.string().min(1) });

const hdDataSchema = z.object({ resultUrl: z.string().nullish() }).nullish();

const uploadDataSchema = z.object({ downloadUrl: z.string().min(1) });

const creditsSchema = z.union([
  z.number(),
  z
    .string()
    .trim()
    .regex(/^-?\d+(\.\d+)?$/)
    .transform(Number),
]);

const optionalString = z
  .unknown()
  .optional()
  .transform((v) => (typeof v === 'string' && v.trim() !== '' ? v : null));

const recordSchema = z.object({
  taskId: z.string().nullish(),
  paramJson: z.unknown().optional(),
  createTime: z.unknown().optional(),
  completeTime: z.unknown().optional(),
  response: z
    .object({
      resultUrls: z.unknown().optional(),
      originUrls: z.unknown().optional(),
      fullResultUrls: z.unknown().optional(),
      resolution: optionalString,
    })
    .nullish(),
  // One third-party note puts a JSON-string resultUrls at the top level; accept it as a fallback.
  resultUrls: z.unknown().optional(),
  successFlag: intLike.nullish(),
  errorCode: intLike.nullish(),
  errorMessage: optionalString,
});

type WireRecord = z.infer<typeof recordSchema>;

function toTaskInfo(record: WireRecord, requestedId: string): TaskInfo {
  const response = record.response ?? null;
  const resultUrls = urlList(response?.resultUrls);
  if (resultUrls.length === 0) resultUrls.push(...urlList(record.resultUrls));
  const successFlag = record.successFlag ?? null;
  let status: TaskInfo['status'];
  let errorMessage = record.errorMessage;
  if (successFlag === null || successFlag === 0) {
    status = 'generating';
  } else if (successFlag === 1) {
    status = resultUrls.length > 0 ? 'succeeded' : 'failed';
    if (status === 'failed') errorMessage ??= 'kie reported success but returned no result URLs';
  } else {
    status = 'failed';
    errorMessage ??= `kie reported failure (successFlag ${successFlag})`;
  }
  return {
    taskId: record.taskId ?? requestedId,
    status,
    successFlag,
    resultUrls,
    originUrls: urlList(response?.originUrls),
    fullResultUrls: urlList(response?.fullResultUrls),
    resolution: response?.resolution ?? null,
    errorCode: record.errorCode ?? null,
    errorMessage,
    params: paramsOf(record.paramJson),
    createdAt: epochMs(record.createTime),
    completedAt: epochMs(record.completeTime),
  };
}

/** An array, a JSON string of one, or the docs' unquoted "[http://…]" form. */
function urlList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v.trim() !== '');
  if (typeof value !== 'string') return [];
  const text = value.trim();
  if (text === '') return [];
  const parsed = parseJson(text);
  if (Array.isArray(parsed) || typeof parsed === 'string') return urlList(Array.isArray(parsed) ? parsed : [parsed]);
  if (text.startsWith('[') && text.endsWith(']')) {
    return text
      .slice(1, -1)
      .split(',')
      .map((part) => part.trim().replace(/^["']|["']$/g, ''))
      .filter((part) => part !== '');
  }
  return [text];
}

function paramsOf(value: unknown): Record<string, unknown> | null {
  const parsed = typeof value === 'string' ? parseJson(value) : value;
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : null;
}

const ZONELESS_TIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/** Epoch ms from epoch ms, epoch seconds, or a date string (zoneless strings are UTC). */
function epochMs(value: unknown): number | null {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) return null;
    // Sibling endpoints send ms; a value this small can only be seconds.
    return value < 1e11 ? value * 1000 : value;
  }
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return epochMs(Number(text));
  const ms = Date.parse(ZONELESS_TIME.test(text) ? `${text.replace(' ', 'T')}Z` : text);
  return Number.isNaN(ms) ? null : ms;
}
