import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { t } from '../../src/i18n/index.js';
import type { JobRecord } from '../../src/services/jobs/record.js';
import { MANAGER_PERMISSIONS, prompt } from './helpers/commands.js';
import { bodyOf, isCallback, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';
import type { InteractionHandle, RecordedRequest } from './helpers/loopbackDiscord.js';

const EPHEMERAL = 64;
const UHD_PATH = '/api/v1/veo/get-4k-video';
const STRANGER = '900000000000000071';
const MANAGER = '900000000000000072';
const HMAC_KEY = 'loopback-webhook-hmac-key';
const DAY_MS = 24 * 60 * 60_000;

function dataOf(r: RecordedRequest): Record<string, unknown> {
  return (bodyOf(r).data ?? {}) as Record<string, unknown>;
}

describe('the 4K button (DESIGN §5: real client, loopback Discord and kie, SQLite)', () => {
  let h: Harness;
  let offset = 0;
  const clock = { now: () => Date.now() + offset };

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  async function start(env: Record<string, string> = {}): Promise<void> {
    offset = 0;
    h = await startHarness({ clock, env });
  }

  async function delivered(text: string): Promise<JobRecord> {
    const handle = await prompt(h, text);
    return h.job(handle.interactionId, (j) => j.state === 'delivered');
  }

  function click(job: JobRecord, as: { userId?: string; memberPermissions?: string; locale?: string } = {}) {
    return h.discord.buttonClick({ customId: `veo:4k:${job.id}`, messageId: job.messageId!, ...as });
  }

  function answerOf(handle: InteractionHandle): Promise<RecordedRequest> {
    return h.discord.waitForRequest((r) => isCallback(r, handle.interactionId), { afterSeq: handle.seq });
  }

  async function ephemeralAnswer(handle: InteractionHandle): Promise<string> {
    const answer = await answerOf(handle);
    expect(bodyOf(answer).type).toBe(4);
    expect(Number(dataOf(answer).flags) & EPHEMERAL).toBe(EPHEMERAL);
    return String(dataOf(answer).content);
  }

  const scope = (userId?: string) => ({ guildId: h.discord.guild.id, userId: userId ?? h.discord.userId });
  const unitsLeft = async (userId?: string) => (await h.bot.quota.status(scope(userId))).remaining;
  const uhdCalls = () => h.kie.requests.filter((r) => r.path === UHD_PATH);

  async function settled(job: JobRecord, state: 'ready' | 'failed'): Promise<JobRecord> {
    for (let i = 0; i < 400; i++) {
      const now = await h.bot.jobs.get(job.id);
      if (now?.uhd?.state === state) return now;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`the 4K of ${job.id} never became ${state}`);
  }

  it('processing twice, then ready: one 4K delivery as the edit of the deferred click, its units charged once', async () => {
    await start({ KIE_4K_POLL_INTERVAL_MS: '40' });
    const job = await delivered('a glacier at dawn');
    h.kie.setUhdScript(job.taskId!, ['processing', 'processing', 'ready']);
    expect(await unitsLeft()).toBe(4);
    const handle = await click(job);
    const defer = await answerOf(handle);
    expect(bodyOf(defer).type).toBe(5);

    const edit = await h.discord.waitForRequest((r) => isOriginalEdit(r, handle.token) && r.files.length === 1, {
      afterSeq: handle.seq,
    });
    expect(edit.files[0]!.fileName).toBe(`veo-${job.id}-4k.mp4`);
    expect(String(bodyOf(edit).content)).toBe('✅ 4K version.');
    const done = await settled(job, 'ready');
    expect(done.uhd?.url).toContain('-4k.mp4');

    // The documented body, every time: kie reads "processing" (200, then a 422) and then the URLs.
    const calls = uhdCalls();
    expect(calls).toHaveLength(3);
    for (const call of calls) expect(call.json).toStrictEqual({ taskId: job.taskId, index: 0 });
    // First the reply says what is happening and what it costs; then the file, once.
    const edits = h.discord.requestsAfter(handle.seq).filter((r) => isOriginalEdit(r, handle.token));
    expect(String(bodyOf(edits[0]!).content)).toBe(t('en-US', 'uhd.preparing', { cost: 2 }));
    expect(edits.filter((r) => r.files.length > 0)).toHaveLength(1);

    // QUOTA_COST_4K (2) units, once, spent; and KIE_CREDITS_4K in the bot's budget.
    expect(await unitsLeft()).toBe(2);
    const status = await h.bot.quota.status(scope());
    expect(status.running).toBe(0);
    expect(status.activeJobs).toBe(0);

    // A later click gets the link, privately, and asks kie nothing more.
    const again = await click(job);
    expect(await ephemeralAnswer(again)).toBe(`4K version: ${done.uhd!.url!}`);
    expect(uhdCalls()).toHaveLength(3);
    expect(await unitsLeft()).toBe(2);

    // kie cannot extend an upgraded video: Extend says so.
    const extend = await h.discord.buttonClick({ customId: `veo:extend:${job.id}`, messageId: job.messageId! });
    expect(await ephemeralAnswer(extend)).toBe(t('en-US', 'action.extend_uhd'));
  });

  it("a stranger's click is refused and costs nothing; a second click while preparing is told it is already on its way", async () => {
    // Slow re-checks: the preparation is still running when the second click comes.
    await start({ KIE_4K_POLL_INTERVAL_MS: '600000' });
    const job = await delivered('a heron in the reeds');

    const stranger = await click(job, { userId: STRANGER });
    expect(await ephemeralAnswer(stranger)).toBe(t('en-US', 'uhd.not_yours', { user: h.discord.userId }));
    expect(uhdCalls()).toEqual([]);
    expect(await unitsLeft(STRANGER)).toBe(5);
    expect((await h.bot.jobs.get(job.id))?.uhd ?? null).toBeNull();

    const first = await click(job);
    expect(bodyOf(await answerOf(first)).type).toBe(5);
    await h.kie.waitFor((r) => r.path === UHD_PATH);
    const second = await click(job, { userId: MANAGER, memberPermissions: MANAGER_PERMISSIONS, locale: 'zh-CN' });
    expect(await ephemeralAnswer(second)).toBe(t('zh-CN', 'uhd.already'));
    expect(uhdCalls()).toHaveLength(1);
    // Charged once, to the member who asked first; the second click held nothing.
    expect(await unitsLeft()).toBe(2);
    expect(await unitsLeft(MANAGER)).toBe(5);
  });

  it("processing, then kie's 4K failure callback: the click's reply says so and the units come back", async () => {
    await start({
      KIE_4K_POLL_INTERVAL_MS: '600000',
      PUBLIC_BASE_URL: 'https://veo.example',
      KIE_WEBHOOK_HMAC_KEY: HMAC_KEY,
      // One job (60) and one 4K (120): a second 4K fits only if the first one's credits came back.
      DAILY_CREDIT_BUDGET: '180',
    });
    const job = await delivered('a storm over the sea');
    const handle = await click(job, { locale: 'zh-CN' });
    expect(bodyOf(await answerOf(handle)).type).toBe(5);
    const first = await h.kie.waitFor((r) => r.path === UHD_PATH);
    expect(first.json).toStrictEqual({
      taskId: job.taskId,
      index: 0,
      callBackUrl: `https://veo.example/kie/callback?job=${job.id}`,
    });
    expect(await unitsLeft()).toBe(2);
    expect((await h.bot.jobs.get(job.id))?.uhd?.state).toBe('preparing');

    // kie gives up on the 4K and says so on the callback (its own body shape, kie-veo-api.md §3b).
    h.kie.setUhdScript(job.taskId!, ['unavailable']);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const response = await fetch(`http://127.0.0.1:${String(h.bot.httpPort)}/kie/callback?job=${job.id}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-webhook-timestamp': timestamp,
        'x-webhook-signature': createHmac('sha256', HMAC_KEY).update(`${job.taskId!}.${timestamp}`).digest('base64'),
      },
      body: JSON.stringify(h.kie.uhdCallbackBody(job.taskId!, 'unavailable')),
    });
    expect(response.status).toBe(200);

    const edit = await h.discord.waitForRequest(
      (r) => isOriginalEdit(r, handle.token) && String(bodyOf(r).content) === t('zh-CN', 'uhd.failed'),
      { afterSeq: handle.seq },
    );
    expect(edit.files).toEqual([]);
    await settled(job, 'failed');
    // The callback itself was only a hint: the bot asked kie, which answered "unavailable".
    expect(uhdCalls()).toHaveLength(2);
    expect(await unitsLeft()).toBe(4);
    expect(
      h.logs.some(
        (l) => l.message === 'kie callback handled' && l.fields.outcome === 'read' && l.fields.taskId === job.taskId,
      ),
    ).toBe(true);

    // The 4K's credits came back too: the bot's budget affords another 4K click, which is charged afresh.
    h.kie.setUhdScript(job.taskId!, ['processing']);
    const retry = await click(job);
    expect(bodyOf(await answerOf(retry)).type).toBe(5);
    await h.kie.waitFor((r) => r.path === UHD_PATH && r.seq > first.seq + 1);
    expect(await unitsLeft()).toBe(2);
  });

  it('a video older than 14 days is refused clearly, before anything is charged', async () => {
    await start();
    const job = await delivered('an old video');
    offset = 14 * DAY_MS + 60_000;
    const handle = await click(job);
    expect(await ephemeralAnswer(handle)).toBe(
      'This video is more than 14 days old; the video service no longer keeps it, so there is no 4K version to make.',
    );
    expect(uhdCalls()).toEqual([]);
    expect((await h.bot.jobs.get(job.id))?.uhd ?? null).toBeNull();
  });
});
