import { ButtonStyle, ComponentType } from 'discord.js';
import { beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../src/logger.js';
import { DEFAULT_UPLOAD_LIMIT, MiB, TOKEN_LIFETIME_MS } from '../../../../src/services/delivery/limits.js';
import type { MessageView, OutgoingFile } from '../../../../src/services/delivery/rest.js';
import {
  SendLadder,
  type MessageForm,
  type SendRequest,
  type SendTarget,
} from '../../../../src/services/delivery/send.js';
import { Codes, discordError, FakeRest, httpError, rateLimitError } from '../../../helpers/fakeRest.js';

const NOW = 1_700_000_000_000;
const CHANNEL = '333333333333333333';
const MESSAGE = '666666666666666666';
const USER = '111111111111111111';
const GUILD = '222222222222222222';

function target(overrides: Partial<SendTarget> = {}): SendTarget {
  return {
    token: 'tok',
    tokenIssuedAt: NOW,
    tokenDead: false,
    tokenUploadLimit: 25 * MiB,
    channelId: CHANNEL,
    guildId: GUILD,
    messageId: MESSAGE,
    private: false,
    userId: USER,
    ...overrides,
  };
}

/** The result message in a form: its text says which, and it carries a link button. */
function resultView(form: MessageForm): MessageView {
  return {
    content: form.attached ? 'attached' : `link (limit ${form.limitBytes})`,
    embeds: [],
    components: [
      {
        type: ComponentType.ActionRow,
        components: [
          { type: ComponentType.Button, style: ButtonStyle.Primary, label: '1080P', custom_id: 'veo:hd:job1' },
          { type: ComponentType.Button, style: ButtonStyle.Link, label: 'Open', url: 'https://files.test/v.mp4' },
        ],
      },
    ],
    allowedMentions: { parse: [] },
  };
}

const video: OutgoingFile = { name: 'veo-job1.mp4', data: new Blob([Buffer.alloc(1024)], { type: 'video/mp4' }) };
const notice: MessageView = { content: 'told', embeds: [], components: [], allowedMentions: { parse: [] } };

describe('SendLadder (DESIGN §4: token -> bot-token edit -> new post or DM)', () => {
  let rest: FakeRest;
  let ladder: SendLadder;
  let now: number;
  let tokenDeaths: number;
  let fileLimits: number[];

  beforeEach(() => {
    rest = new FakeRest();
    now = NOW + 60_000;
    tokenDeaths = 0;
    fileLimits = [];
    ladder = new SendLadder({
      rest,
      clock: { now: () => now },
      logger: silentLogger,
      guildUploadLimit: () => 50 * MiB,
    });
  });

  function request(overrides: Partial<SendRequest> = {}): SendRequest {
    return {
      target: target(),
      view: resultView,
      file: async (limit) => {
        fileLimits.push(limit);
        return video;
      },
      onTokenDead: async () => {
        tokenDeaths += 1;
      },
      beforePost: async () => ({ nonce: 'job1-1' }),
      logFields: { jobId: 'job1' },
      ...overrides,
    };
  }

  describe('rung 1: the interaction token', () => {
    it('GIVEN a fresh token THEN the reply is edited through it with the file, under the interaction limit', async () => {
      const outcome = await ladder.send(request());

      expect(outcome).toEqual({ kind: 'sent', via: 'token', messageId: '777000000000000001' });
      expect(rest.calls.map((c) => c.method)).toEqual(['editOriginal']);
      const [edit] = rest.of('editOriginal');
      expect(edit?.token).toBe('tok');
      expect(edit?.options.files).toEqual([video]);
      expect(edit?.options.replaceAttachments).toBe(true);
      expect(fileLimits).toEqual([25 * MiB]);
    });

    it.each([
      ['tokenDead is persisted', { tokenDead: true }],
      ['the token is 14 minutes old', { tokenIssuedAt: NOW + 60_000 - TOKEN_LIFETIME_MS }],
      ['the token is gone', { token: null }],
    ])('GIVEN %s THEN the token is never used and the bot token edits the job message', async (_, change) => {
      const outcome = await ladder.send(request({ target: target(change) }));

      expect(outcome).toEqual({ kind: 'sent', via: 'edit', messageId: MESSAGE });
      expect(rest.of('editOriginal')).toEqual([]);
      expect(rest.of('editChannelMessage')[0]).toMatchObject({ channelId: CHANNEL, messageId: MESSAGE });
      expect(fileLimits).toEqual([50 * MiB]);
      expect(tokenDeaths).toBe(0);
    });

    it.each([
      ['401', discordError(401, 0)],
      ['50027 Invalid Webhook Token', discordError(401, Codes.InvalidWebhookToken)],
      ['10015 Unknown Webhook', discordError(404, Codes.UnknownWebhook)],
    ])('GIVEN the token is refused (%s) THEN its death is persisted before the bot-token edit', async (_, error) => {
      rest.failNext('editOriginal', error);
      const order: string[] = [];
      const outcome = await ladder.send(
        request({
          onTokenDead: async () => {
            order.push(`dead after ${rest.calls.length} call(s)`);
            tokenDeaths += 1;
          },
        }),
      );

      expect(outcome).toEqual({ kind: 'sent', via: 'edit', messageId: MESSAGE });
      expect(tokenDeaths).toBe(1);
      expect(order).toEqual(['dead after 1 call(s)']);
      expect(rest.calls.map((c) => c.method)).toEqual(['editOriginal', 'editChannelMessage']);
    });

    it('GIVEN @original answers 10008 Unknown Message THEN the token is not called dead and the video is posted anew', async () => {
      rest.failNext('editOriginal', discordError(404, Codes.UnknownMessage));
      const outcome = await ladder.send(request());

      expect(tokenDeaths).toBe(0);
      expect(outcome).toMatchObject({ kind: 'sent', via: 'channel' });
      expect(rest.calls.map((c) => c.method)).toEqual(['editOriginal', 'postChannelMessage']);
    });
  });

  describe('rung 2: the bot-token edit of the known message', () => {
    it.each([
      ['10008 deleted', discordError(404, Codes.UnknownMessage)],
      ['50001 no access', discordError(403, Codes.MissingAccess)],
      ['50013 no permission', discordError(403, Codes.MissingPermissions)],
      ['10003 channel gone', discordError(404, Codes.UnknownChannel)],
    ])('GIVEN the edit is impossible (%s) THEN a new channel post carries it, naming the member', async (_, error) => {
      rest.failNext('editChannelMessage', error);
      const outcome = await ladder.send(request({ target: target({ tokenDead: true }) }));

      expect(outcome).toMatchObject({ kind: 'sent', via: 'channel' });
      const [post] = rest.of('postChannelMessage');
      expect(post?.channelId).toBe(CHANNEL);
      expect(post?.view.content).toBe(`<@${USER}> attached`);
      expect(post?.view.allowedMentions).toEqual({ users: [USER] });
      expect(post?.options.nonce).toBe('job1-1');
      expect(post?.options.files).toEqual([video]);
      expect(rest.of('openDm')).toEqual([]);
    });

    it('GIVEN a DM-channel job (no guild) THEN the bot-token edit is held to the default upload limit', async () => {
      await ladder.send(request({ target: target({ tokenDead: true, guildId: null }) }));

      expect(fileLimits).toEqual([DEFAULT_UPLOAD_LIMIT]);
    });
  });

  describe('rung 3: a new post, in the channel (public) or by DM (private)', () => {
    it('GIVEN a private job past its token THEN the ephemeral reply is not edited and the video goes by DM, unmentioned', async () => {
      const outcome = await ladder.send(request({ target: target({ tokenDead: true, private: true }) }));

      expect(outcome).toMatchObject({ kind: 'sent', via: 'dm' });
      expect(rest.calls.map((c) => c.method)).toEqual(['openDm', 'postChannelMessage']);
      const [post] = rest.of('postChannelMessage');
      expect(post?.channelId).toBe(rest.dmChannelId);
      expect(post?.view.content).toBe('attached');
      expect(fileLimits).toEqual([DEFAULT_UPLOAD_LIMIT]);
    });

    it.each([
      ['opening the DM', 'openDm' as const],
      ['posting in it', 'postChannelMessage' as const],
    ])('GIVEN DMs are closed (50007) when %s THEN the outcome is undeliverable', async (_, method) => {
      rest.failNext(method, discordError(403, Codes.CannotSendMessagesToThisUser));
      const outcome = await ladder.send(request({ target: target({ tokenDead: true, private: true }) }));

      expect(outcome).toEqual({ kind: 'undeliverable', reason: 'DMs closed' });
    });

    it('GIVEN a public job whose channel refuses the post too THEN it is undeliverable and never DMd', async () => {
      rest.failNext('editChannelMessage', discordError(403, Codes.MissingPermissions));
      rest.failNext('postChannelMessage', discordError(403, Codes.MissingPermissions));
      const outcome = await ladder.send(request({ target: target({ tokenDead: true }) }));

      expect(outcome).toEqual({ kind: 'undeliverable', reason: 'the channel refuses the post' });
      expect(rest.of('openDm')).toEqual([]);
    });

    it('GIVEN an earlier attempt already posted THEN nothing is posted again', async () => {
      rest.failNext('editChannelMessage', discordError(404, Codes.UnknownMessage));
      const outcome = await ladder.send(
        request({ target: target({ tokenDead: true }), beforePost: async () => ({ found: '5555' }) }),
      );

      expect(outcome).toEqual({ kind: 'sent', via: 'channel', messageId: '5555' });
      expect(rest.of('postChannelMessage')).toEqual([]);
    });

    it('GIVEN a status edit (editOnly) with no message left to edit THEN nothing is posted', async () => {
      const outcome = await ladder.send(
        request({ target: target({ tokenDead: true, private: true }), editOnly: true }),
      );

      expect(outcome).toEqual({ kind: 'undeliverable', reason: 'no message it may edit' });
      expect(rest.calls).toEqual([]);
    });
  });

  describe('40005 / 413: the link instead of the file', () => {
    it.each([
      ['40005', discordError(413, Codes.RequestEntityTooLarge)],
      ['a bare 413', discordError(413, 0)],
    ])('GIVEN the token edit answers %s THEN the link form is sent once on the same route', async (_, error) => {
      rest.failNext('editOriginal', error);
      const outcome = await ladder.send(request());

      expect(outcome).toMatchObject({ kind: 'sent', via: 'token' });
      const edits = rest.of('editOriginal');
      expect(edits.map((e) => e.view.content)).toEqual(['attached', `link (limit ${25 * MiB})`]);
      expect(edits[1]?.options.files).toEqual([]);
      expect(edits[1]?.options.replaceAttachments).toBe(true);
    });

    it('GIVEN a channel post answers 40005 THEN the link form is posted under its own nonce', async () => {
      rest.failNext('postChannelMessage', discordError(413, Codes.RequestEntityTooLarge));
      await ladder.send(request({ target: target({ tokenDead: true, messageId: null }) }));

      expect(rest.of('postChannelMessage').map((p) => p.options.nonce)).toEqual(['job1-1', 'job1-1l']);
    });

    it('GIVEN the file does not fit the limit at all THEN the link form is the first one sent', async () => {
      await ladder.send(request({ file: async () => null }));

      expect(rest.of('editOriginal').map((e) => e.view.content)).toEqual([`link (limit ${25 * MiB})`]);
    });
  });

  describe('transient failures: the caller retries later', () => {
    it.each([
      ['a Discord 500', discordError(500, 0)],
      ['an HTTPError (5xx after @discordjs/rest retries)', httpError()],
      ['a RateLimitError (429 handed back)', rateLimitError()],
      ['a 429 answer', discordError(429, 0)],
      ['a network failure', Object.assign(new Error('other side closed'), { code: 'ECONNRESET' })],
    ])('GIVEN %s on the token edit THEN the outcome is transient and nothing else is tried', async (_, error) => {
      rest.failNext('editOriginal', error);
      const outcome = await ladder.send(request());

      expect(outcome).toEqual({ kind: 'transient', error });
      expect(rest.calls.map((c) => c.method)).toEqual(['editOriginal']);
      expect(tokenDeaths).toBe(0);
    });

    it.each([
      ['the bot-token edit', 'editChannelMessage' as const, target({ tokenDead: true })],
      ['the channel post', 'postChannelMessage' as const, target({ tokenDead: true, messageId: null })],
      ['opening the DM', 'openDm' as const, target({ tokenDead: true, private: true })],
    ])('GIVEN a 503 on %s THEN the outcome is transient', async (_, method, to) => {
      rest.failNext(method, httpError());
      expect((await ladder.send(request({ target: to }))).kind).toBe('transient');
    });

    it('GIVEN the download fails in a way that may pass THEN the outcome is transient and nothing is sent', async () => {
      const error = new Error('socket hang up');
      const outcome = await ladder.send(request({ file: () => Promise.reject(error) }));

      expect(outcome).toEqual({ kind: 'transient', error });
      expect(rest.calls).toEqual([]);
    });

    it('GIVEN a bug (a TypeError in the caller) THEN it is classed transient, never undeliverable', async () => {
      const outcome = await ladder.send(
        request({
          view: () => {
            throw new TypeError('x is undefined');
          },
        }),
      );

      expect(outcome.kind).toBe('transient');
    });
  });

  describe('permanent refusals: the one alternative form, then undeliverable', () => {
    it.each([
      ['50035 invalid form body', discordError(400, Codes.InvalidFormBodyOrContentType)],
      ['50006 empty message', discordError(400, Codes.CannotSendAnEmptyMessage)],
    ])('GIVEN %s THEN the same message is sent once without its link button', async (_, error) => {
      rest.failNext('editOriginal', error);
      const outcome = await ladder.send(request());

      expect(outcome).toMatchObject({ kind: 'sent', via: 'token' });
      const edits = rest.of('editOriginal');
      expect(edits).toHaveLength(2);
      const buttons = (i: number) => edits[i]?.view.components.flatMap((row) => row.components.map((b) => b.style));
      expect(buttons(0)).toEqual([ButtonStyle.Primary, ButtonStyle.Link]);
      expect(buttons(1)).toEqual([ButtonStyle.Primary]);
      expect(edits[1]?.options.files).toEqual([video]);
    });

    it('GIVEN the alternative is refused too THEN the member is told on that route and the outcome is undeliverable', async () => {
      const refused = discordError(400, Codes.InvalidFormBodyOrContentType);
      rest.failNext('editOriginal', refused, refused);
      const outcome = await ladder.send(request({ refusedNotice: notice }));

      expect(outcome).toEqual({
        kind: 'undeliverable',
        reason: 'Discord refused every form (token, code 50035)',
      });
      expect(rest.of('editOriginal').map((e) => e.view.content)).toEqual(['attached', 'attached', 'told']);
      expect(rest.of('editOriginal')[2]?.options.files).toEqual([]);
      expect(rest.of('editChannelMessage')).toEqual([]);
      expect(rest.of('postChannelMessage')).toEqual([]);
    });

    it('GIVEN a message without a link button is refused THEN there is no alternative: undeliverable at once', async () => {
      rest.failNext('editChannelMessage', discordError(400, Codes.InvalidFormBodyOrContentType));
      const outcome = await ladder.send(
        request({ target: target({ tokenDead: true }), view: () => notice, editOnly: true }),
      );

      expect(outcome.kind).toBe('undeliverable');
      expect(rest.of('editChannelMessage')).toHaveLength(1);
    });

    it('GIVEN too large, then the link form refused, then without the button refused THEN it stops there', async () => {
      const refused = discordError(400, Codes.InvalidFormBodyOrContentType);
      rest.failNext('postChannelMessage', discordError(413, Codes.RequestEntityTooLarge), refused, refused);
      const outcome = await ladder.send(request({ target: target({ tokenDead: true, messageId: null }) }));

      expect(outcome.kind).toBe('undeliverable');
      expect(rest.of('postChannelMessage').map((p) => p.options.nonce)).toEqual(['job1-1', 'job1-1l', 'job1-1lb']);
    });
  });
});
