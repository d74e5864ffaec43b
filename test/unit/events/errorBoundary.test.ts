import { DiscordAPIError, Locale, MessageFlags, RESTJSONErrorCodes } from 'discord.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UserFacingError } from '../../../src/errors.js';
import { answerError } from '../../../src/events/errorBoundary.js';
import { t } from '../../../src/i18n/index.js';
import { KieHttpError, KieRateLimitError, KieTimeoutError, type KieError } from '../../../src/services/kie/errors.js';
import { startInteractionSource, type InteractionSource } from '../../helpers/fakeInteraction.js';
import { recordingLogger, type LogLine } from '../../helpers/logger.js';
import type { RecordedRequest } from '../../e2e/helpers/loopbackDiscord.js';

const where = { method: 'GET', path: '/api/v1/veo/record-info?taskId=t1', attempt: 3 };
const kieAnswer = (apiCode: number) => ({ ...where, httpStatus: apiCode, apiCode, apiMessage: 'nope' });

function unknownInteraction(): DiscordAPIError {
  return new DiscordAPIError(
    { code: RESTJSONErrorCodes.UnknownInteraction, message: 'Unknown interaction' },
    RESTJSONErrorCodes.UnknownInteraction,
    404,
    'POST',
    'http://127.0.0.1/api/v10/interactions/1/t/callback',
    {},
  );
}

function dataOf(r: RecordedRequest | undefined): Record<string, unknown> {
  const body = r?.body as { data?: Record<string, unknown> } | undefined;
  return body?.data ?? {};
}

describe('answerError: the one error boundary, in each state of the interaction', () => {
  let source: InteractionSource;
  let lines: LogLine[];
  const logger = () => recordingLogger(lines);

  beforeAll(async () => {
    source = await startInteractionSource();
  });
  afterAll(async () => {
    await source.close();
  });
  beforeEach(() => {
    lines = [];
  });

  describe('GIVEN a fresh interaction THEN the answer is an ephemeral reply', () => {
    it('WHEN a UserFacingError is thrown THEN its text in the member’s locale, with no mentions, and nothing logged', async () => {
      const interaction = await source.slashCommand({ locale: Locale.ChineseCN });
      await answerError(interaction, new UserFacingError('error.job_not_found'), logger());

      const [callback, ...more] = source.answers(interaction);
      expect(more).toEqual([]);
      expect(callback).toMatchObject({ operation: 'createInteractionResponse', status: 204, body: { type: 4 } });
      expect(dataOf(callback)).toMatchObject({
        content: t('zh-CN', 'error.job_not_found'),
        flags: MessageFlags.Ephemeral,
        allowed_mentions: { parse: [] },
      });
      expect(interaction.replied).toBe(true);
      expect(lines).toEqual([]);
    });

    it.each<[string, KieError]>([
      ['a rate limit', new KieRateLimitError({ ...kieAnswer(429), retryAfterMs: 5_000 })],
      ['a timeout', new KieTimeoutError({ ...where, timeoutMs: 15_000 })],
      ['a 5xx', new KieHttpError(kieAnswer(503))],
    ])('WHEN kie answers with %s THEN "the video service is busy", logged at warn', async (_, error) => {
      const interaction = await source.slashCommand();
      await answerError(interaction, error, logger());

      expect(source.answers(interaction).map(dataOf)).toMatchObject([
        { content: t('en-US', 'error.busy'), flags: MessageFlags.Ephemeral },
      ]);
      expect(lines).toMatchObject([
        { level: 'warn', message: 'kie busy', fields: { err: error, interactionId: interaction.id } },
      ]);
    });

    it('WHEN kie refuses the request (a 4xx) THEN it is no "busy": the generic text, logged at error', async () => {
      const interaction = await source.slashCommand();
      const error = new KieHttpError(kieAnswer(422));
      await answerError(interaction, error, logger());

      expect(dataOf(source.answers(interaction)[0]).content).toBe(t('en-US', 'error.generic'));
      expect(lines).toMatchObject([
        { level: 'error', message: 'interaction failed', fields: { err: error, kie: true } },
      ]);
    });

    it('WHEN the interaction is a button THEN the log names its custom id', async () => {
      const interaction = await source.buttonClick({ customId: 'v1:hd:job123' });
      const error = new Error('the handler broke');
      await answerError(interaction, error, logger());

      expect(dataOf(source.answers(interaction)[0])).toMatchObject({
        content: t('en-US', 'error.generic'),
        flags: MessageFlags.Ephemeral,
      });
      expect(lines).toMatchObject([
        {
          level: 'error',
          message: 'interaction failed',
          fields: { err: error, customId: 'v1:hd:job123', command: undefined, kie: false },
        },
      ]);
    });
  });

  describe('GIVEN a deferred interaction THEN the answer edits the deferred reply', () => {
    it('WHEN anything else is thrown THEN the generic text replaces the "thinking…" reply, logged at error with the command', async () => {
      const interaction = await source.slashCommand();
      await interaction.deferReply({ flags: MessageFlags.Ephemeral });
      const error = new TypeError('undefined is not a function');
      await answerError(interaction, error, logger());

      const [defer, edit, ...more] = source.answers(interaction);
      expect(defer?.body).toMatchObject({ type: 5 });
      expect(edit?.operation).toBe('updateOriginalWebhookMessage');
      expect(edit?.body).toMatchObject({ content: t('en-US', 'error.generic'), allowed_mentions: { parse: [] } });
      expect(more).toEqual([]);
      expect(source.discord.originalMessage(interaction.token)?.content).toBe(t('en-US', 'error.generic'));
      expect(lines).toMatchObject([
        {
          level: 'error',
          message: 'interaction failed',
          fields: { err: error, command: 'veo', userId: interaction.user.id },
        },
      ]);
    });
  });

  describe('GIVEN an interaction already replied to THEN the answer is an ephemeral follow-up', () => {
    it('WHEN a UserFacingError is thrown THEN the first reply stays and an ephemeral follow-up carries the text', async () => {
      const interaction = await source.slashCommand();
      await interaction.reply({ content: 'Queued.' });
      await answerError(interaction, new UserFacingError('error.busy'), logger());

      const [reply, followUp, ...more] = source.answers(interaction);
      expect(dataOf(reply).content).toBe('Queued.');
      expect(followUp?.operation).toBe('executeWebhook');
      expect(followUp?.body).toMatchObject({
        content: t('en-US', 'error.busy'),
        flags: MessageFlags.Ephemeral,
        allowed_mentions: { parse: [] },
      });
      expect(more).toEqual([]);
      expect(source.discord.originalMessage(interaction.token)?.content).toBe('Queued.');
    });
  });

  describe('GIVEN Discord says the interaction is gone (10062)', () => {
    it('THEN nothing is sent, in any state, and it is logged at warn with the code', async () => {
      const fresh = await source.slashCommand();
      const deferred = await source.slashCommand();
      await deferred.deferReply();
      await answerError(fresh, unknownInteraction(), logger());
      await answerError(deferred, unknownInteraction(), logger());

      expect(source.answers(fresh)).toEqual([]);
      expect(source.answers(deferred).map((r) => r.operation)).toEqual(['createInteractionResponse']);
      expect(lines.map((l) => [l.level, l.message, l.fields.code])).toEqual([
        ['warn', 'interaction vanished before it was answered', 10062],
        ['warn', 'interaction vanished before it was answered', 10062],
      ]);
    });
  });

  describe('GIVEN the error reply itself fails', () => {
    it('THEN answerError still resolves, and the failure is logged at warn after the original error', async () => {
      const interaction = await source.slashCommand();
      source.discord.failNext(
        { method: 'POST', pathIncludes: `/interactions/${interaction.id}/` },
        { status: 400, code: 40060, message: 'Interaction has already been acknowledged.' },
      );
      const error = new Error('first failure');
      await expect(answerError(interaction, error, logger())).resolves.toBeUndefined();

      expect(source.answers(interaction).map((r) => r.status)).toEqual([400]);
      expect(lines.map((l) => [l.level, l.message])).toEqual([
        ['error', 'interaction failed'],
        ['warn', 'could not deliver the error reply'],
      ]);
      const replyError = lines[1]?.fields.err;
      expect(replyError).toBeInstanceOf(DiscordAPIError);
      expect(replyError).toMatchObject({ code: 40060, status: 400 });
    });
  });
});
