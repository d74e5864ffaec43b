/**
 * Typed errors of the kie.ai client. None of them ever holds the API key, the Authorization header or a
 * request body: they are logged and shown to operators as they are.
 */

export const KIE_MESSAGE_MAX = 300;

export interface KieErrorContext {
  method: string;
  /** Path with the query string; the client only puts task ids there, never secrets. */
  path: string;
  /** 1-based attempt on which this error was decided (0 when nothing was sent). */
  attempt: number;
  cause?: unknown;
}

export abstract class KieError extends Error {
  readonly method: string;
  readonly path: string;
  readonly attempt: number;

  protected constructor(message: string, context: KieErrorContext) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    this.method = context.method;
    this.path = context.path;
    this.attempt = context.attempt;
  }
}

interface ApiAnswer {
  httpStatus: number;
  /** The body's `code`, or the HTTP status when the body has none. */
  apiCode: number;
  /** kie's `msg`, trimmed. */
  apiMessage: string;
}

function where(context: KieErrorContext): string {
  return `kie ${context.method} ${context.path} (attempt ${context.attempt})`;
}

/** kie refused the request (any code other than the ones with their own class below). */
export class KieHttpError extends KieError {
  readonly httpStatus: number;
  readonly apiCode: number;
  readonly apiMessage: string;

  constructor(context: KieErrorContext & ApiAnswer) {
    super(
      `${where(context)} answered code ${context.apiCode} (HTTP ${context.httpStatus}): ${context.apiMessage}`,
      context,
    );
    this.httpStatus = context.httpStatus;
    this.apiCode = context.apiCode;
    this.apiMessage = context.apiMessage;
  }
}

export class KieRateLimitError extends KieError {
  readonly httpStatus: number;
  readonly apiCode: number;
  readonly apiMessage: string;
  /** From `Retry-After` when kie sent one. */
  readonly retryAfterMs: number | null;

  constructor(context: KieErrorContext & ApiAnswer & { retryAfterMs: number | null }) {
    super(`${where(context)} is rate limited (code ${context.apiCode}, HTTP ${context.httpStatus})`, context);
    this.httpStatus = context.httpStatus;
    this.apiCode = context.apiCode;
    this.apiMessage = context.apiMessage;
    this.retryAfterMs = context.retryAfterMs;
  }
}

export class KieTimeoutError extends KieError {
  readonly timeoutMs: number;

  constructor(context: KieErrorContext & { timeoutMs: number }) {
    super(`${where(context)} got no answer within ${context.timeoutMs} ms`, context);
    this.timeoutMs = context.timeoutMs;
  }
}

/** The connection failed (refused, reset, DNS...) on every attempt. */
export class KieNetworkError extends KieError {
  /** Node or undici error code such as ECONNREFUSED, when there is one. */
  readonly errorCode: string | null;

  constructor(context: KieErrorContext & { errorCode: string | null }) {
    super(`${where(context)} failed on the network (${context.errorCode ?? 'unknown error'})`, context);
    this.errorCode = context.errorCode;
  }
}

/** The answer was not the shape the docs describe. */
export class KieResponseError extends KieError {
  readonly httpStatus: number;
  readonly detail: string;

  constructor(context: KieErrorContext & { httpStatus: number; detail: string }) {
    super(`${where(context)} answered an unexpected body (HTTP ${context.httpStatus}): ${context.detail}`, context);
    this.httpStatus = context.httpStatus;
    this.detail = context.detail;
  }
}

export type KieOutcomeUnknownReason = 'timeout' | 'network' | 'server' | 'unreadable';

/**
 * generate was sent and kie may have created (and will charge for) a task we cannot name: the caller
 * marks the job failed_unknown instead of retrying, which could charge twice.
 */
export class KieOutcomeUnknownError extends KieError {
  readonly reason: KieOutcomeUnknownReason;
  readonly httpStatus: number | null;
  readonly apiCode: number | null;
  readonly apiMessage: string | null;

  constructor(
    context: KieErrorContext & {
      reason: KieOutcomeUnknownReason;
      httpStatus?: number | null;
      apiCode?: number | null;
      apiMessage?: string | null;
    },
  ) {
    super(`${where(context)} was sent but its outcome is unknown (${context.reason})`, context);
    this.reason = context.reason;
    this.httpStatus = context.httpStatus ?? null;
    this.apiCode = context.apiCode ?? null;
    this.apiMessage = context.apiMessage ?? null;
  }
}

export type KiePauseReason = 'credits' | 'maintenance';

/** generate refused locally, without sending, because the circuit is open. */
export class KiePausedError extends KieError {
  readonly reason: KiePauseReason;

  constructor(context: KieErrorContext & { reason: KiePauseReason }) {
    super(`${where(context)} not sent: kie is paused (${context.reason})`, context);
    this.reason = context.reason;
  }
}

/** Cloudflare's bare HTTP 403 "error code: 1010": it looks like auth but is a refused client signature. */
export class KieBlockedError extends KieError {
  readonly httpStatus = 403;

  constructor(context: KieErrorContext) {
    super(`${where(context)} was blocked by Cloudflare (HTTP 403, error code 1010)`, context);
  }
}

export type KieFailureReason =
  | 'content_policy'
  | 'english_only'
  | 'image_fetch'
  | 'unsafe_image'
  | 'unauthorized'
  | 'credits'
  | 'not_found'
  | 'validation'
  | 'rate_limited'
  | 'key_cap'
  | 'image_access'
  | 'maintenance'
  | 'server'
  | 'generation_failed'
  | 'feature_disabled'
  | 'blocked'
  | 'unknown';

export interface KieFailure {
  reason: KieFailureReason;
  policyText?: string;
}

export function trimKieMessage(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > KIE_MESSAGE_MAX ? `${trimmed.slice(0, KIE_MESSAGE_MAX - 1)}…` : trimmed;
}

/** Codes whose meaning does not depend on the message (the account, the service, the image host). */
const FIXED_CODES: ReadonlyMap<number, KieFailureReason> = new Map([
  [401, 'unauthorized'],
  [402, 'credits'],
  [429, 'rate_limited'],
  [433, 'key_cap'],
  [451, 'image_access'],
  [455, 'maintenance'],
  [505, 'feature_disabled'],
]);

const OTHER_CODES: ReadonlyMap<number, KieFailureReason> = new Map([
  [400, 'validation'],
  [404, 'not_found'],
  // 408 is "upstream produced no result for >10 min": a server-side timeout.
  [408, 'server'],
  [422, 'validation'],
  [500, 'server'],
  [501, 'generation_failed'],
]);

const POLICY_MARKERS = ['content polic', 'flagged', 'flow(', 'rejected by'];

/**
 * Classifies a kie failure (an envelope code and msg, or a record's errorCode and errorMessage) into a
 * reason the bot can explain. Pure, so the renderer and the job runner agree.
 */
export function describeKieFailure(code: number | null | undefined, message: string | null | undefined): KieFailure {
  const text = message ?? '';
  const lower = text.toLowerCase();
  if (code === 403 && lower.includes('error code: 1010')) return { reason: 'blocked' };
  const fixed = code == null ? undefined : FIXED_CODES.get(code);
  if (fixed) return { reason: fixed };
  if (POLICY_MARKERS.some((marker) => lower.includes(marker))) {
    return { reason: 'content_policy', policyText: trimKieMessage(flowText(text) ?? text) };
  }
  if (lower.includes('only english')) return { reason: 'english_only' };
  if (lower.includes('unsafe image')) return { reason: 'unsafe_image' };
  if (lower.includes('fetch the image') || lower.includes('fetch image')) return { reason: 'image_fetch' };
  const other = code == null ? undefined : OTHER_CODES.get(code);
  return { reason: other ?? 'unknown' };
}

/** The text inside `Flow(...)`, balancing nested parentheses; kie's upstream verdict lives there. */
function flowText(message: string): string | null {
  const start = message.toLowerCase().indexOf('flow(');
  if (start < 0) return null;
  let depth = 1;
  const from = start + 'flow('.length;
  for (let i = from; i < message.length; i++) {
    const ch = message[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (depth === 0) return message.slice(from, i).trim() || null;
  }
  return message.slice(from).trim() || null;
}

/** The same classification for anything the client threw. */
export function describeKieError(err: unknown): KieFailure {
  if (err instanceof KieHttpError) return describeKieFailure(err.apiCode, err.apiMessage);
  if (err instanceof KieRateLimitError) return { reason: 'rate_limited' };
  if (err instanceof KieBlockedError) return { reason: 'blocked' };
  if (err instanceof KiePausedError) return { reason: err.reason };
  if (err instanceof KieTimeoutError || err instanceof KieNetworkError) return { reason: 'server' };
  // Outcome unknown and schema mismatches say nothing about why; the caller has its own wording for them.
  return { reason: 'unknown' };
}

/** Body codes at or above 500 that judge the request rather than report a fault: trying later changes nothing. */
const VERDICT_CODES: ReadonlySet<number> = new Set([501, 505]);

/** kie is overloaded or failing just now, so "try again in a moment" is the honest answer. */
export function isBusyKieError(error: unknown): boolean {
  if (error instanceof KieRateLimitError || error instanceof KieTimeoutError) return true;
  if (!(error instanceof KieHttpError)) return false;
  return error.apiCode === 429 || (error.apiCode >= 500 && !VERDICT_CODES.has(error.apiCode));
}
