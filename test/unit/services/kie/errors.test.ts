import { describe, expect, it } from 'vitest';
import {
  describeKieError,
  describeKieFailure,
  isBusyKieError,
  KieBlockedError,
  KieHttpError,
  KieNetworkError,
  KieOutcomeUnknownError,
  KiePausedError,
  KieRateLimitError,
  KieResponseError,
  KieTimeoutError,
  type KieFailureReason,
} from '../../../../src/services/kie/errors.js';

const FLAGGED = 'Your prompt was flagged by Website as violating content policies.';
const FLOW =
  'Your request was rejected by Flow(Your prompt was flagged by Website as violating content policies). You may consider using our other fallback channels, which are likely to succeed. Please refer to the documentation.';
const context = { method: 'GET', path: '/api/v1/veo/record-info?taskId=t', attempt: 1 };

describe('describeKieFailure', () => {
  it('GIVEN the documented content-policy message WHEN described THEN it is content_policy with the message as policy text', () => {
    expect(describeKieFailure(400, FLAGGED)).toEqual({ reason: 'content_policy', policyText: FLAGGED });
  });

  it('GIVEN the documented "rejected by Flow(...)" callback message WHEN described THEN the policy text is the text inside Flow()', () => {
    expect(describeKieFailure(422, FLOW)).toEqual({
      reason: 'content_policy',
      policyText: 'Your prompt was flagged by Website as violating content policies',
    });
  });

  it('GIVEN Flow() text with nested parentheses WHEN described THEN the balanced inner text is kept', () => {
    expect(describeKieFailure(422, 'rejected by Flow(Blocked (minors) in scene). Try again')).toMatchObject({
      policyText: 'Blocked (minors) in scene',
    });
  });

  it('GIVEN a very long policy message WHEN described THEN the policy text is at most 300 characters', () => {
    const text = describeKieFailure(400, `Your prompt was flagged: ${'x'.repeat(1000)}`).policyText ?? '';

    expect(text.length).toBeLessThanOrEqual(300);
  });

  it.each<[number | null, string | null, KieFailureReason]>([
    [400, 'Only English prompts are supported at this time.', 'english_only'],
    [
      400,
      'Failed to fetch the image. Kindly verify any access limits set by you or your service provider.',
      'image_fetch',
    ],
    [400, 'public error unsafe image upload', 'unsafe_image'],
    [400, 'Something else was wrong', 'validation'],
    [401, 'You do not have access permissions', 'unauthorized'],
    [401, 'Unauthorized – Authentication failed. Please check your API key.', 'unauthorized'],
    [402, 'Insufficient credits', 'credits'],
    [404, 'Not Found', 'not_found'],
    [422, 'Ratio error', 'validation'],
    [422, 'recordInfo is null', 'validation'],
    [429, 'Too many requests', 'rate_limited'],
    [433, 'Sub-key usage cap exceeded', 'key_cap'],
    [451, 'Failed to fetch the image', 'image_access'],
    [455, 'Service unavailable', 'maintenance'],
    [500, 'Internal Error, Please try again later.', 'server'],
    [500, 'Timeout', 'server'],
    [501, 'Generation failed', 'generation_failed'],
    [505, 'Feature disabled', 'feature_disabled'],
    [403, 'error code: 1010', 'blocked'],
    [403, 'Forbidden', 'unknown'],
    [999, '', 'unknown'],
    [null, null, 'unknown'],
  ])('GIVEN code %s and message %j WHEN described THEN the reason is %s', (code, message, reason) => {
    expect(describeKieFailure(code, message).reason).toBe(reason);
  });

  it('GIVEN a failed record with errorCode 501 and a policy message WHEN described THEN the policy wins over the code', () => {
    expect(describeKieFailure(501, FLAGGED).reason).toBe('content_policy');
  });

  it('GIVEN an account code with a message that mentions flagging WHEN described THEN the account code wins', () => {
    expect(describeKieFailure(402, 'Account flagged: insufficient credits').reason).toBe('credits');
  });
});

describe('describeKieError', () => {
  it.each<{ name: string; err: unknown; reason: KieFailureReason }>([
    {
      name: 'KieHttpError 402',
      err: new KieHttpError({ ...context, httpStatus: 200, apiCode: 402, apiMessage: 'Insufficient credits' }),
      reason: 'credits',
    },
    {
      name: 'KieHttpError policy',
      err: new KieHttpError({ ...context, httpStatus: 200, apiCode: 400, apiMessage: FLAGGED }),
      reason: 'content_policy',
    },
    {
      name: 'KieRateLimitError',
      err: new KieRateLimitError({ ...context, httpStatus: 429, apiCode: 429, apiMessage: '', retryAfterMs: null }),
      reason: 'rate_limited',
    },
    { name: 'KieBlockedError', err: new KieBlockedError(context), reason: 'blocked' },
    {
      name: 'KiePausedError',
      err: new KiePausedError({ ...context, attempt: 0, reason: 'maintenance' }),
      reason: 'maintenance',
    },
    { name: 'KieTimeoutError', err: new KieTimeoutError({ ...context, timeoutMs: 10 }), reason: 'server' },
    { name: 'KieNetworkError', err: new KieNetworkError({ ...context, errorCode: 'ECONNRESET' }), reason: 'server' },
    {
      name: 'KieOutcomeUnknownError',
      err: new KieOutcomeUnknownError({ ...context, reason: 'timeout' }),
      reason: 'unknown',
    },
    {
      name: 'KieResponseError',
      err: new KieResponseError({ ...context, httpStatus: 200, detail: 'x' }),
      reason: 'unknown',
    },
    { name: 'a plain Error', err: new Error('boom'), reason: 'unknown' },
  ])('GIVEN $name WHEN described THEN the reason is $reason', ({ err, reason }) => {
    expect(describeKieError(err).reason).toBe(reason);
  });

  it('GIVEN a policy KieHttpError WHEN described THEN the policy text comes along', () => {
    const err = new KieHttpError({ ...context, httpStatus: 200, apiCode: 422, apiMessage: FLOW });

    expect(describeKieError(err).policyText).toBe('Your prompt was flagged by Website as violating content policies');
  });
});

describe('KieError fields', () => {
  it('GIVEN a KieHttpError WHEN built THEN it names itself and keeps method, path and attempt', () => {
    const err = new KieHttpError({ ...context, attempt: 3, httpStatus: 500, apiCode: 500, apiMessage: 'Timeout' });

    expect(err).toMatchObject({ name: 'KieHttpError', method: 'GET', path: context.path, attempt: 3, httpStatus: 500 });
    expect(err).toBeInstanceOf(Error);
  });
});

describe('isBusyKieError', () => {
  const http = (apiCode: number) => new KieHttpError({ ...context, httpStatus: 200, apiCode, apiMessage: 'm' });

  it.each([429, 500, 502, 503, 504, 520])('GIVEN kie code %i THEN kie is busy: try again later', (code) => {
    expect(isBusyKieError(http(code))).toBe(true);
  });

  it.each([
    [501, 'generation failed'],
    [505, 'feature disabled'],
    [400, 'validation'],
    [455, 'maintenance'],
  ])('GIVEN kie code %i (%s) THEN it is a verdict, not busy', (code) => {
    expect(isBusyKieError(http(code))).toBe(false);
  });

  it('GIVEN a rate limit or a timeout THEN busy; a network error, an unknown outcome or a plain Error THEN not', () => {
    const limited = new KieRateLimitError({
      ...context,
      httpStatus: 429,
      apiCode: 429,
      apiMessage: '',
      retryAfterMs: null,
    });
    expect(isBusyKieError(limited)).toBe(true);
    expect(isBusyKieError(new KieTimeoutError({ ...context, timeoutMs: 10 }))).toBe(true);
    expect(isBusyKieError(new KieNetworkError({ ...context, errorCode: 'ECONNRESET' }))).toBe(false);
    expect(isBusyKieError(new KieOutcomeUnknownError({ ...context, reason: 'server' }))).toBe(false);
    expect(isBusyKieError(new Error('boom'))).toBe(false);
  });
});
