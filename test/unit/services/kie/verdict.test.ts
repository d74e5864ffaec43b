import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  KieBlockedError,
  KieHttpError,
  KieNetworkError,
  KieOutcomeUnknownError,
  KieRateLimitError,
  KieResponseError,
  KieTimeoutError,
} from '../../../../src/services/kie/errors.js';
import {
  errorCodeOf,
  judge,
  looseMessage,
  parseRetryAfter,
  readData,
  requestCode,
  type CallFacts,
  type RawResult,
  type Verdict,
} from '../../../../src/services/kie/verdict.js';

const KEY = 'kie-secret-key-5f3a9c1e7b2d4086';
const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
const read: CallFacts = { method: 'GET', path: '/api/v1/veo/record-info?taskId=t', policy: 'read', timeoutMs: 1_000 };
const generate: CallFacts = { method: 'POST', path: '/api/v1/veo/generate', policy: 'generate', timeoutMs: 60_000 };

function response(status: number, body: unknown, headers: Record<string, string> = {}): RawResult {
  return { kind: 'response', status, headers, text: typeof body === 'string' ? body : JSON.stringify(body) };
}

function thrown(err: unknown, timedOut = false): RawResult {
  return { kind: 'thrown', err, timedOut };
}

function verdictOf(call: CallFacts, raw: RawResult, attempt = 1): Verdict {
  return judge(call, raw, attempt, { apiKey: KEY, now: NOW });
}

function failure(call: CallFacts, raw: RawResult) {
  const verdict = verdictOf(call, raw);
  if (verdict.kind !== 'failure') throw new Error(`expected a failure, got ${JSON.stringify(verdict)}`);
  return verdict;
}

describe('judge: answers', () => {
  it('GIVEN code 200 THEN an answer carrying data, message and attempt', () => {
    const verdict = verdictOf(read, response(200, { code: 200, msg: 'success', data: { taskId: 't' } }), 2);
    expect(verdict).toEqual({
      kind: 'answer',
      answer: { httpStatus: 200, code: 200, msg: 'success', data: { taskId: 't' }, attempt: 2 },
    });
  });

  it('GIVEN a code the call passes THEN an answer, not an error; other codes still fail', () => {
    const hd: CallFacts = { ...read, passes: (code, msg) => code === 422 && /processing/i.test(msg) };
    expect(verdictOf(hd, response(200, { code: 422, msg: 'Still processing' })).kind).toBe('answer');
    expect(failure(hd, response(200, { code: 422, msg: 'record is null' })).error).toBeInstanceOf(KieHttpError);
  });

  it('GIVEN a string code THEN it is read as a number', () => {
    expect(verdictOf(read, response(200, { code: '200', msg: 'ok', data: 1 }))).toMatchObject({
      kind: 'answer',
      answer: { code: 200 },
    });
  });
});

describe('judge: thrown', () => {
  it('GIVEN a timeout on a read THEN KieTimeoutError, retryable', () => {
    const v = failure(read, thrown(new Error('aborted'), true));
    expect(v.error).toBeInstanceOf(KieTimeoutError);
    expect(v.retryable).toBe(true);
  });

  it('GIVEN a timeout on generate THEN the outcome is unknown and it is not retried', () => {
    const v = failure(generate, thrown(new Error('aborted'), true));
    expect(v.error).toBeInstanceOf(KieOutcomeUnknownError);
    expect(v.error).toMatchObject({ reason: 'timeout' });
    expect(v.retryable).toBe(false);
  });

  it('GIVEN generate refused before sending (ECONNREFUSED in a cause) THEN a retryable network error', () => {
    const err = new Error('fetch failed', { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) });
    const v = failure(generate, thrown(err));
    expect(v.error).toBeInstanceOf(KieNetworkError);
    expect(v.error).toMatchObject({ errorCode: 'ECONNREFUSED' });
    expect(v.retryable).toBe(true);
  });

  it('GIVEN generate reset after sending THEN the outcome is unknown', () => {
    const v = failure(generate, thrown(Object.assign(new Error('reset'), { code: 'ECONNRESET' })));
    expect(v.error).toMatchObject({ name: 'KieOutcomeUnknownError', reason: 'network' });
    expect(v.retryable).toBe(false);
  });
});

describe('judge: refusals and faults', () => {
  it('GIVEN Cloudflare 1010 THEN blocked, never retried', () => {
    const v = failure(read, response(403, 'error code: 1010'));
    expect(v.error).toBeInstanceOf(KieBlockedError);
    expect(v.retryable).toBe(false);
  });

  it('GIVEN a 2xx that is not the envelope THEN KieResponseError on a read and an unknown outcome on generate', () => {
    expect(failure(read, response(200, '<html>')).error).toMatchObject({
      name: 'KieResponseError',
      detail: 'not JSON',
    });
    const v = failure(generate, response(200, { ok: true }));
    expect(v.error).toMatchObject({ name: 'KieOutcomeUnknownError', reason: 'unreadable', httpStatus: 200 });
    expect(v.retryable).toBe(false);
  });

  it('GIVEN 429 with a short Retry-After THEN retryable after it; with a long one THEN handed to the caller', () => {
    const short = failure(read, response(200, { code: 429, msg: 'slow down' }, { 'retry-after': '2' }));
    expect(short.error).toBeInstanceOf(KieRateLimitError);
    expect(short).toMatchObject({ retryable: true, retryAfterMs: 2_000 });
    const long = failure(read, response(429, 'Too Many Requests', { 'retry-after': '120' }));
    expect(long).toMatchObject({ retryable: false, retryAfterMs: 120_000 });
    expect(long.error).toMatchObject({ retryAfterMs: 120_000 });
  });

  it('GIVEN maintenance (455) THEN a retryable KieHttpError, even for generate', () => {
    const v = failure(generate, response(200, { code: 455, msg: 'Service unavailable' }));
    expect(v.error).toMatchObject({ name: 'KieHttpError', apiCode: 455 });
    expect(v.retryable).toBe(true);
  });

  it.each([500, 502, 503, 504])('GIVEN body code %i THEN a read retries and generate is an unknown outcome', (code) => {
    expect(failure(read, response(200, { code, msg: 'Internal Error' })).retryable).toBe(true);
    const v = failure(generate, response(200, { code, msg: 'Internal Error' }));
    expect(v.error).toMatchObject({ name: 'KieOutcomeUnknownError', reason: 'server', apiCode: code });
    expect(v.retryable).toBe(false);
  });

  it.each([400, 401, 402, 422, 501, 505])('GIVEN body code %i THEN a final KieHttpError', (code) => {
    const v = failure(generate, response(200, { code, msg: 'no' }));
    expect(v.error).toMatchObject({ name: 'KieHttpError', apiCode: code, httpStatus: 200 });
    expect(v.retryable).toBe(false);
  });

  it('GIVEN a bare HTTP 502 with a framework body THEN its status is the code, its message is read, and a read retries', () => {
    const v = failure(read, response(502, { message: 'Bad gateway' }));
    expect(v.error).toMatchObject({ name: 'KieHttpError', apiCode: 502, apiMessage: 'Bad gateway' });
    expect(v.retryable).toBe(true);
  });

  it('GIVEN kie echoes the API key THEN the error message holds it redacted', () => {
    const v = failure(read, response(200, { code: 401, msg: `invalid key ${KEY}` }));
    expect(v.error.message).not.toContain(KEY);
    expect(v.error).toMatchObject({ apiMessage: 'invalid key [redacted]' });
  });
});

describe('parseRetryAfter', () => {
  it.each([
    [undefined, null],
    ['', null],
    ['3', 3_000],
    ['1.5', 1_500],
    [['4', '9'], 4_000],
    ['soon', null],
    [new Date(NOW + 7_000).toUTCString(), 7_000],
    [new Date(NOW - 7_000).toUTCString(), 0],
  ])('GIVEN %j THEN %j ms', (value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });
});

describe('errorCodeOf', () => {
  it('GIVEN the code on the error, its cause or an AggregateError member THEN it is found; else null', () => {
    expect(errorCodeOf(Object.assign(new Error('x'), { code: 'ENOTFOUND' }))).toBe('ENOTFOUND');
    const aggregate = new AggregateError([new Error('a'), Object.assign(new Error('b'), { code: 'EAI_AGAIN' })]);
    expect(errorCodeOf(new Error('outer', { cause: aggregate }))).toBe('EAI_AGAIN');
    expect(errorCodeOf(new Error('plain'))).toBeNull();
    expect(errorCodeOf('not an error')).toBeNull();
  });
});

describe('looseMessage', () => {
  it('GIVEN msg, message or error THEN the first string found; else null', () => {
    expect(looseMessage({ msg: 'a', message: 'b' })).toBe('a');
    expect(looseMessage({ error: 'c' })).toBe('c');
    expect(looseMessage({ message: 5 })).toBeNull();
    expect(looseMessage('text')).toBeNull();
  });
});

describe('readData', () => {
  const schema = z.object({ taskId: z.string().min(1) });
  const answer = { httpStatus: 200, code: 200, msg: 'ok', data: { taskId: '' }, attempt: 1 };

  it('GIVEN readable data THEN it is returned', () => {
    expect(readData(schema, { ...answer, data: { taskId: 't' } }, read)).toEqual({ taskId: 't' });
  });

  it('GIVEN unreadable data THEN KieResponseError on a read, an unknown outcome on generate', () => {
    expect(() => readData(schema, answer, read)).toThrow(KieResponseError);
    expect(() => readData(schema, answer, generate)).toThrow(KieOutcomeUnknownError);
  });
});

describe('requestCode', () => {
  it('GIVEN each way an attempt ends THEN the body code, the HTTP status, timeout or network', () => {
    const ok = response(200, { code: 200, msg: 'ok' });
    expect(requestCode(ok, verdictOf(read, ok))).toBe('200');
    const refused = response(200, { code: 402, msg: 'credits' });
    expect(requestCode(refused, verdictOf(read, refused))).toBe('402');
    const html = response(200, '<html>');
    expect(requestCode(html, verdictOf(read, html))).toBe('200');
    const timeout = thrown(new Error('aborted'), true);
    expect(requestCode(timeout, verdictOf(read, timeout))).toBe('timeout');
    const reset = thrown(new Error('reset'));
    expect(requestCode(reset, verdictOf(read, reset))).toBe('network');
  });
});
