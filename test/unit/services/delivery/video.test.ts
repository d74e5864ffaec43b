import Keyv from 'keyv';
import { ButtonStyle, ComponentType } from 'discord.js';
import { beforeEach, describe, expect, it } from 'vitest';
import { DownloadError, type DownloadResult } from '../../../../src/lib/download.js';
import { silentLogger } from '../../../../src/logger.js';
import { KeptDownloads } from '../../../../src/services/delivery/keptDownloads.js';
import { MiB } from '../../../../src/services/delivery/limits.js';
import type { MessageView } from '../../../../src/services/delivery/rest.js';
import { SendLadder } from '../../../../src/services/delivery/send.js';
import { DeliveryService } from '../../../../src/services/delivery/video.js';
import { renderFailure } from '../../../../src/services/delivery/views.js';
import type { JobRecord } from '../../../../src/services/jobs/record.js';
import { MediaRefusedError } from '../../../../src/services/runtime/fetchGuard.js';
import { JobStore } from '../../../../src/services/jobs/store.js';
import { makeJob } from '../../../helpers/jobs.js';
import { keptInMemory, MemoryFolder } from '../../../helpers/memoryFolder.js';
import { Codes, discordError, FakeRest, httpError, message } from '../../../helpers/fakeRest.js';

const URL = 'https://files.test/result.mp4';
const status: MessageView = { content: 'Generating', embeds: [], components: [], allowedMentions: { parse: [] } };

describe('DeliveryService over the send ladder', () => {
  let rest: FakeRest;
  let jobs: JobStore;
  let downloads: KeptDownloads;
  let folder: MemoryFolder;
  let delivery: DeliveryService;
  let now: number;
  let fetches: Array<{ url: string; cap: number }>;
  let answer: () => Promise<DownloadResult>;

  beforeEach(() => {
    now = 1_700_000_000_000 + 30_000;
    const clock = { now: () => now };
    rest = new FakeRest();
    jobs = new JobStore(new Keyv(), clock);
    fetches = [];
    answer = async () => ({ kind: 'ok', data: Buffer.alloc(2 * MiB), contentType: 'video/mp4' });
    folder = new MemoryFolder();
    downloads = keptInMemory(folder, clock, async (url, cap) => {
      fetches.push({ url, cap });
      return answer();
    });
    delivery = new DeliveryService({
      rest,
      send: new SendLadder({ rest, clock, logger: silentLogger, guildUploadLimit: () => 10 * MiB }),
      downloads,
      jobs,
      clock,
      logger: silentLogger,
      concurrency: 2,
      unitsLeft: async () => ({ remaining: 3, limit: 5 }),
    });
  });

  async function delivering(overrides: Partial<JobRecord> = {}): Promise<JobRecord> {
    const job = makeJob({ state: 'delivering', taskId: 't1', resultUrls: [URL], ...overrides });
    await jobs.create(job);
    return job;
  }

  const stored = async (id: string) => (await jobs.get(id))!;

  it('GIVEN a fresh token THEN the video is attached to the job message and its download released', async () => {
    const job = await delivering();
    const outcome = await delivery.deliver(job);

    expect(outcome).toMatchObject({ kind: 'delivered', messageId: '777000000000000001' });
    const [edit] = rest.of('editOriginal');
    expect(edit?.options.files?.map((f) => f.name)).toEqual([`veo-${job.id}.mp4`]);
    expect(edit?.view.embeds[0]?.footer?.text).toBe('3 of 5 units left');
    expect(downloads.bytes).toBe(0);
  });

  it('GIVEN the token is refused THEN tokenDead is persisted, and the next attempt never uses the token', async () => {
    const job = await delivering();
    rest.failNext('editOriginal', discordError(401, Codes.InvalidWebhookToken));
    rest.failNext('editChannelMessage', httpError());
    const first = await delivery.deliver(job);

    expect(first.kind).toBe('retry');
    expect((await stored(job.id)).interaction.tokenDead).toBe(true);
    expect(first.job.interaction.tokenDead).toBe(true);

    const second = await delivery.deliver(await stored(job.id));
    expect(second).toMatchObject({ kind: 'delivered', messageId: job.messageId });
    expect(rest.of('editOriginal')).toHaveLength(1);
    expect(rest.of('editChannelMessage')).toHaveLength(2);
  });

  it('GIVEN Discord fails transiently THEN the file is kept: the retry does not download again', async () => {
    const job = await delivering();
    rest.failNext('editOriginal', httpError(), httpError());
    expect((await delivery.deliver(job)).kind).toBe('retry');
    expect((await delivery.deliver(job)).kind).toBe('retry');
    expect(downloads.bytes).toBe(2 * MiB);

    expect((await delivery.deliver(job)).kind).toBe('delivered');
    expect(fetches).toHaveLength(1);
    expect(rest.of('editOriginal').map((e) => e.options.files?.[0]?.data.size)).toEqual([2 * MiB, 2 * MiB, 2 * MiB]);
    expect(downloads.bytes).toBe(0);
    expect(folder.files.size).toBe(0);
  });

  it('GIVEN a refused body twice (a link button Discord rejects) THEN the job is undeliverable at once, the member told', async () => {
    const job = await delivering();
    const refused = discordError(400, Codes.InvalidFormBodyOrContentType);
    rest.failNext('editOriginal', refused, refused);
    const outcome = await delivery.deliver(job);

    expect(outcome).toMatchObject({ kind: 'undeliverable' });
    const edits = rest.of('editOriginal');
    expect(edits).toHaveLength(3);
    // The link has a row of its own (kie's URL): the retry drops that row whole, the bot's buttons stay.
    expect(edits[0]?.view.components.map((row) => row.components.length)).toEqual([5, 1]);
    expect(edits[1]?.view.components.map((row) => row.components.length)).toEqual([5]);
    expect(edits[1]?.view.components.flatMap((row) => row.components).some((b) => b.style === ButtonStyle.Link)).toBe(
      false,
    );
    expect(edits[2]?.view.content).toContain(URL);
    expect(edits[2]?.options.files).toEqual([]);
    expect(downloads.bytes).toBe(0);
  });

  it('GIVEN the result URL is gone (404) THEN the link is delivered, not retried', async () => {
    const job = await delivering();
    answer = () => Promise.reject(new DownloadError('download answered HTTP 404', 404));
    const outcome = await delivery.deliver(job);

    expect(outcome.kind).toBe('delivered');
    expect(rest.of('editOriginal')[0]?.options.files).toEqual([]);
    expect(rest.of('editOriginal')[0]?.view.content).toContain(URL);
  });

  it('GIVEN a download that may pass later (a 503) THEN it is a retry and nothing is sent', async () => {
    const job = await delivering();
    answer = () => Promise.reject(new DownloadError('download answered HTTP 503', 503));
    const outcome = await delivery.deliver(job);

    expect(outcome.kind).toBe('retry');
    expect(rest.calls).toEqual([]);
  });

  it('GIVEN the fetch guard refuses the URL or its bytes THEN the outcome is refused, nothing is sent, nothing kept', async () => {
    for (const reason of ['not_public', 'not_media'] as const) {
      const job = await delivering();
      answer = () => Promise.reject(new MediaRefusedError(reason, 'files.test'));
      const outcome = await delivery.deliver(job);

      expect(outcome).toMatchObject({ kind: 'refused', reason });
      expect(rest.calls).toEqual([]);
      expect(downloads.bytes).toBe(0);
    }
  });

  it('GIVEN a bot-token edit delivers THEN one mention is posted, under a nonce recorded before it', async () => {
    const job = await delivering({ interaction: { ...makeJob().interaction, tokenDead: true } });
    const outcome = await delivery.deliver(job);

    expect(outcome).toMatchObject({ kind: 'delivered', messageId: job.messageId });
    const [mention] = rest.of('postChannelMessage');
    expect(mention?.view.content).toContain(`<@${job.requesterId}>`);
    expect(mention?.view.allowedMentions).toEqual({ users: [job.requesterId] });
    expect(mention?.options.nonce).toBe(`${job.id}-1`);
    expect((await stored(job.id)).deliveryAttempts.map((a) => a.via)).toEqual(['mention']);
  });

  it('GIVEN a slow job delivered through the token THEN the mention is a follow-up; a fast one gets none', async () => {
    const slow = await delivering({ createdAt: now - 5 * 60_000 });
    await delivery.deliver(slow);
    expect(rest.of('followUp')).toHaveLength(1);

    const fast = await delivering({ createdAt: now - 1_000 });
    await delivery.deliver(fast);
    expect(rest.of('followUp')).toHaveLength(1);
  });

  it('GIVEN a channel post whose answer was lost THEN the retry reuses its nonce, so Discord drops a duplicate', async () => {
    const job = await delivering({ interaction: { ...makeJob().interaction, tokenDead: true }, messageId: null });
    rest.failNext('postChannelMessage', httpError());
    expect((await delivery.deliver(job)).kind).toBe('retry');
    expect((await delivery.deliver(await stored(job.id))).kind).toBe('delivered');

    expect(rest.of('postChannelMessage').map((p) => p.options.nonce)).toEqual([`${job.id}-1`, `${job.id}-1`]);
    expect((await stored(job.id)).deliveryAttempts).toHaveLength(1);
  });

  it('GIVEN an open attempt whose post is in the channel (found by its 1080P button) THEN it is not posted again', async () => {
    const job = await delivering({
      interaction: { ...makeJob().interaction, tokenDead: true },
      messageId: null,
      deliveryAttempts: [{ n: 1, at: now - 1_000, via: 'channel' }],
    });
    const earlier = message(
      '4444',
      job.channelId,
      {
        content: 'done',
        embeds: [],
        components: [
          {
            type: ComponentType.ActionRow,
            components: [
              {
                type: ComponentType.Button,
                style: ButtonStyle.Primary,
                label: '1080P',
                custom_id: `veo:hd:${job.id}`,
              },
            ],
          },
        ],
      },
      {},
    );
    rest.recent.set(job.channelId, [earlier]);
    const outcome = await delivery.deliver(job);

    expect(outcome).toMatchObject({ kind: 'delivered', messageId: '4444' });
    expect(rest.of('postChannelMessage')).toEqual([]);
  });

  it('GIVEN a job without a result URL THEN it is undeliverable and nothing is called', async () => {
    const job = await delivering({ resultUrls: [] });
    expect(await delivery.deliver(job)).toMatchObject({ kind: 'undeliverable', reason: 'no result URL' });
    expect(rest.calls).toEqual([]);
  });

  describe('status and failure edits', () => {
    it('GIVEN a fresh token THEN a status edit goes through it and is shown', async () => {
      const job = await delivering({ state: 'generating' });
      const result = await delivery.updateJobMessage(job, status);

      expect(result.shown).toBe(true);
      expect(rest.of('editOriginal')[0]?.view).toEqual(status);
      expect(rest.of('editOriginal')[0]?.options.replaceAttachments).toBe(false);
    });

    it('GIVEN a private job whose token is refused THEN the status is not shown, nothing is posted, and tokenDead is kept', async () => {
      const job = await delivering({ state: 'generating', private: true });
      rest.failNext('editOriginal', discordError(401, Codes.InvalidWebhookToken));
      const result = await delivery.updateJobMessage(job, status);

      expect(result.shown).toBe(false);
      expect(result.job.interaction.tokenDead).toBe(true);
      expect(rest.calls.map((c) => c.method)).toEqual(['editOriginal']);
    });

    it('GIVEN Discord fails transiently THEN the status edit throws for its caller to log', async () => {
      const job = await delivering({ state: 'generating' });
      const error = httpError();
      rest.failNext('editOriginal', error);
      await expect(delivery.updateJobMessage(job, status)).rejects.toBe(error);
    });

    it('GIVEN the job message is gone THEN a failure is posted in the channel naming the member', async () => {
      const job = await delivering({
        state: 'failed',
        interaction: { ...makeJob().interaction, tokenDead: true },
        failure: { reason: 'timeout', policyText: null },
      });
      rest.failNext('editChannelMessage', discordError(404, Codes.UnknownMessage));
      await delivery.showFailure(job, renderFailure(job));

      const [post] = rest.of('postChannelMessage');
      expect(post?.channelId).toBe(job.channelId);
      expect(post?.view.content.startsWith(`<@${job.requesterId}> `)).toBe(true);
    });

    it('GIVEN a private job past its token THEN the failure goes by DM', async () => {
      const job = await delivering({
        state: 'failed',
        private: true,
        interaction: { ...makeJob().interaction, tokenDead: true },
        failure: { reason: 'timeout', policyText: null },
      });
      await delivery.showFailure(job, renderFailure(job));

      expect(rest.calls.map((c) => c.method)).toEqual(['openDm', 'postChannelMessage']);
      expect(rest.of('postChannelMessage')[0]?.channelId).toBe(rest.dmChannelId);
    });
  });
});
