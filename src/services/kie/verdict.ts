/** What one attempt's raw result means: an answer, or an error and whether trying again is safe. Pure. */
import type { z } from 'zod';
import {
  KieBlockedError,
  KieHttpError,
  KieNetworkError,
  KieOutcomeUnknownError,
  KieRateLimitError,
  KieResponseError,
  KieTimeoutError,
  trimKieMessage,
  type KieError,
} from './errors.js';
import { envelopeSchema, parseJson, summarise } from './wire.js';

/** A longer Retry-After is handed to the caller (KieRateLimitError) rather than slept through. */
const MAX_RETRY_AFTER_MS = 60_000;
/** Errors raised before a single byte left: generate may retry them without risking a second charge. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
/** Body codes that mean a transient server fault (501 and 505 are verdicts, not faults). */
const SERVER_CODES = new Set([500, 502, 503, 504]);

/**
 * `generate` is for calls that may create a charged task: once sent, a failure with no readable answer
 * is an unknown outcome, never retried. `read` calls are safe to repeat.
 */
export type RetryPolicy = 'read' | 'generate';

/** What the verdict needs to know about the request. */
export interface CallFacts {
  method: 'GET' | 'POST';
  /** Path plus query, for logs and errors; never holds a secret. */
  path: string;
  policy: RetryPolicy;
  timeoutMs: number;
  /** Body codes other than 200 that the caller interprets itself (get-1080p's "processing"). */
  passes?: (code: number, msg: string) => boolean;
}

export type RawResult =
  | { kind: 'response'; status: number; headers: Record<string, string | string[] | undefined>; text: string }
  /** A body over the cap, left unread. */
  | { kind: 'oversize'; status: number; capBytes: number }
  | { kind: 'thrown'; err: unknown; timedOut: boolean };

export interface Answer {
  httpStatus: number;
  code: number;
  msg: string;
  data: unknown;
  attempt: number;
}

export type Verdict =
  | { kind: 'answer'; answer: Answer }
  | { kind: 'failure'; error: KieError; retryable: boolean; retryAfterMs: number | null };

export interface JudgeContext {
  /** Scrubbed from every message kie echoes back. */
  apiKey: string;
  /** For an HTTP-date Retry-After. */
  now: number;
}

export function judge(call: CallFacts, raw: RawResult, attempt: number, { apiKey, now }: JudgeContext): Verdict {
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

  if (raw.kind === 'oversize') {
    const error = new KieResponseError({
      ...context,
      httpStatus: raw.status,
      detail: `answer larger than ${raw.capBytes} bytes`,
    });
    if (generate)
      return fail(
        new KieOutcomeUnknownError({ ...context, reason: 'unreadable', httpStatus: raw.status, cause: error }),
        false,
      );
    return fail(error, false);
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
    apiMessage = redact(trimKieMessage(msg), apiKey);
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
    apiMessage = redact(trimKieMessage(looseMessage(json) ?? text), apiKey);
  }

  const answer = { ...context, httpStatus: status, apiCode, apiMessage };
  const retryAfterMs = parseRetryAfter(raw.headers['retry-after'], now);
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

function fail(error: KieError, retryable: boolean, retryAfterMs: number | null = null): Verdict {
  return { kind: 'failure', error, retryable, retryAfterMs };
}

/** Reads a 200 answer's `data`; for generate an unreadable 200 means a task we cannot name. */
export function readData<T>(schema: z.ZodType<T>, answer: Answer, call: CallFacts): T {
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

/** The body code when there is one, else the HTTP status, else how the attempt ended. */
export function requestCode(raw: RawResult, verdict: Verdict): string {
  if (verdict.kind === 'answer') return String(verdict.answer.code);
  const code = apiCodeOf(verdict.error);
  if (code !== null) return String(code);
  if (raw.kind !== 'thrown') return String(raw.status);
  return raw.timedOut ? 'timeout' : 'network';
}

export function apiCodeOf(error: KieError): number | null {
  return 'apiCode' in error && typeof error.apiCode === 'number' ? error.apiCode : null;
}

/** Node and undici put the code on the error, its cause, or the members of an AggregateError. */
export function errorCodeOf(err: unknown, depth = 0): string | null {
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

/** The message of a body that is not kie's envelope (a proxy's or a framework's error page). */
export function looseMessage(json: unknown): string | null {
  if (typeof json !== 'object' || json === null) return null;
  for (const key of ['msg', 'message', 'error']) {
    const value = (json as Record<string, unknown>)[key];
    if (typeof value === 'string') return value;
  }
  return null;
}

/** Delta seconds or an HTTP date, as milliseconds from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | null {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return null;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function redact(text: string, apiKey: string): string {
  return apiKey.length >= 4 ? text.split(apiKey).join('[redacted]') : text;
}
