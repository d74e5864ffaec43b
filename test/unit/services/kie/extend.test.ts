import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KieHttpError, KieOutcomeUnknownError } from '../../../../src/services/kie/errors.js';
import { createKieHarness, envelope, JSON_HEADERS, type KieHarness } from '../../../helpers/mockKie.js';

const EXTEND = { path: '/api/v1/veo/extend', method: 'POST' };
const ACCEPTED = envelope(200, 'success', { taskId: 'veo_extend_task_xyz789' });

let kie: KieHarness;

beforeEach(() => {
  kie = createKieHarness();
});

afterEach(async () => {
  await kie.finish();
});

describe('KieClient.extend', () => {
  it.each([
    ['veo3_fast', 'fast'],
    ['veo3', 'quality'],
    ['veo3_lite', 'lite'],
  ] as const)('GIVEN a %s video WHEN extended THEN the body names kie extend model %s', async (model, wire) => {
    kie.api.intercept(EXTEND).reply(200, ACCEPTED, { headers: JSON_HEADERS });
    await expect(kie.client.extend({ taskId: 'task1', prompt: 'then it rains', model })).resolves.toEqual({
      taskId: 'veo_extend_task_xyz789',
    });
    const [call] = kie.calls();
    expect(JSON.parse(String(call?.body))).toStrictEqual({ taskId: 'task1', prompt: 'then it rains', model: wire });
  });

  it('GIVEN a seed and a callback WHEN extended THEN both are sent', async () => {
    kie.api.intercept(EXTEND).reply(200, ACCEPTED, { headers: JSON_HEADERS });
    await kie.client.extend({
      taskId: 't',
      prompt: 'p',
      model: 'veo3',
      seed: 12345,
      callBackUrl: 'https://bot/kie/callback?job=j',
    });
    expect(JSON.parse(String(kie.calls()[0]?.body))).toStrictEqual({
      taskId: 't',
      prompt: 'p',
      model: 'quality',
      seeds: 12345,
      callBackUrl: 'https://bot/kie/callback?job=j',
    });
  });

  it('GIVEN a 5xx WHEN extended THEN the outcome is unknown and nothing is retried (it may have been charged)', async () => {
    kie.api.intercept(EXTEND).reply(500, envelope(500, 'Internal Error, Please try again later.'));
    const err = await kie.client.extend({ taskId: 't', prompt: 'p', model: 'veo3_fast' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KieOutcomeUnknownError);
    expect(kie.calls()).toHaveLength(1);
  });

  it('GIVEN a 402 WHEN extended THEN the circuit pauses for credits, like a generation', async () => {
    kie.api.intercept(EXTEND).reply(200, envelope(402, 'Credits insufficient'), { headers: JSON_HEADERS });
    const err = await kie.client.extend({ taskId: 't', prompt: 'p', model: 'veo3_fast' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KieHttpError);
    expect(kie.client.circuit.pauseReason()).toBe('credits');
  });
});
