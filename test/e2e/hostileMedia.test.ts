import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { t } from '../../src/i18n/index.js';
import type { JobRecord } from '../../src/services/jobs/record.js';
import { mediaFiles } from './helpers/mediaFiles.js';
import { startLoopbackServer, type LoopbackServer } from '../helpers/loopbackServer.js';
import { OPTION } from './helpers/commands.js';
import { bodyOf, isOriginalEdit, startHarness, type Harness, type HarnessOptions } from './helpers/harness.js';
import type { InteractionHandle } from './helpers/loopbackDiscord.js';

const METADATA_PATH = '/latest/meta-data/iam/security-credentials/role';

/**
 * Result URLs the bot did not choose, against the real client built by buildBot: an "internal" server on
 * 127.0.0.1 outside TRUSTED_MEDIA_ORIGINS plays the cloud metadata service, a trusted CDN stand-in
 * redirects to it, and the loopback kie serves what the test makes it serve.
 */
describe('hostile media: every byte from outside is checked (DESIGN §7)', () => {
  let h: Harness;
  let internal: LoopbackServer;
  let cdn: LoopbackServer;

  beforeAll(async () => {
    internal = await startLoopbackServer((_, res) => {
      res.writeHead(200, { 'content-type': 'video/mp4' }).end('{"AccessKeyId":"ASIAINTERNALONLY"}');
    });
    cdn = await startLoopbackServer((_, res) => {
      res.writeHead(302, { location: `https://127.0.0.1:${internal.port}${METADATA_PATH}` }).end();
    });
  });

  afterAll(async () => {
    await internal.close();
    await cdn.close();
  });

  beforeEach(() => {
    internal.connections = 0;
    internal.requests.length = 0;
    cdn.requests.length = 0;
  });

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  async function start(options: HarnessOptions = {}): Promise<void> {
    h = await startHarness({ trustedMediaOrigins: [cdn.origin], ...options });
  }

  function prompt(text: string): Promise<InteractionHandle> {
    return h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: OPTION.string, value: text }],
    });
  }

  /** A job whose kie task finishes with `url` as its only result. */
  async function finishedWith(url: string, text = 'a lighthouse in fog'): Promise<InteractionHandle> {
    h.kie.autoComplete = null;
    const handle = await prompt(text);
    const job = await h.job(handle.interactionId, (j) => j.state === 'generating');
    Object.assign(h.kie.tasks.get(job.taskId!)!, {
      successFlag: 1,
      resultUrls: [url],
      readsUntilDone: null,
      completeTime: Date.now(),
    });
    return handle;
  }

  /** What the member saw and what crossed the wire to Discord after the command. */
  async function refusedJob(handle: InteractionHandle, url: string): Promise<JobRecord> {
    const job = await h.job(handle.interactionId, (j) => j.state === 'failed' && j.interaction.token === null);
    expect(job.failure?.reason).toBe('media_refused');
    expect(job.refunded).toBe(true);
    expect((await h.bot.quota.status({ guildId: job.guildId, userId: job.requesterId })).remaining).toBe(5);
    const message = h.discord.originalMessage(handle.token)!;
    expect(message.content).toContain(t('en-US', 'failed.media_refused'));
    expect(message.content).toContain(t('en-US', 'failed.refunded', { units: 1 }));
    expect(message.attachments).toEqual([]);
    const sent = h.discord.requestsAfter(handle.seq).filter((r) => r.method !== 'GATEWAY');
    expect(sent.flatMap((r) => r.files)).toEqual([]);
    // No button, no link, no text carries the URL.
    expect(JSON.stringify(sent.map(bodyOf))).not.toContain(url);
    expect(JSON.stringify(sent.map(bodyOf))).not.toContain(String(internal.port));
    // Nothing of what was fetched is left on disk either.
    expect(await mediaFiles(h.dir)).toEqual([]);
    return job;
  }

  it('GIVEN result URLs to an internal server outside TRUSTED_MEDIA_ORIGINS (http, https) or file: THEN each job fails with the refund, no button carries the URL, and the server sees no connection', async () => {
    await start();
    for (const url of [
      `http://127.0.0.1:${internal.port}${METADATA_PATH}`,
      `https://127.0.0.1:${internal.port}${METADATA_PATH}`,
      'file:///etc/passwd',
    ]) {
      await refusedJob(await finishedWith(url), url);
    }
    expect(internal.connections).toBe(0);

    // /veo jobs offers none of them either.
    const list = await h.discord.slashCommand({ name: 'veo', subcommand: 'jobs' });
    const edit = await h.discord.waitForRequest((r) => isOriginalEdit(r, list.token), { afterSeq: list.seq });
    const description = (bodyOf(edit).embeds as { description: string }[])[0]!.description;
    expect(description.split('\n')).toHaveLength(3);
    expect(description).not.toContain('127.0.0.1');
    expect(description).not.toContain('file:');
  });

  it('GIVEN a trusted URL that redirects to the internal server THEN it is refused at the hop: the CDN is asked once, the internal server never', async () => {
    await start();
    const url = `${cdn.origin}/v/result.mp4`;
    await refusedJob(await finishedWith(url), url);
    expect(cdn.requests).toEqual(['GET /v/result.mp4']);
    expect(internal.connections).toBe(0);
  });

  it('GIVEN an HTML page served as video/mp4 THEN it is not posted: the job fails with the refund', async () => {
    await start();
    const url = h.kie.addVideo('page.mp4', Buffer.from('<!doctype html><title>Sign in</title>'.repeat(100)));
    await refusedJob(await finishedWith(url), url);
  });

  it('GIVEN a video over MAX_VIDEO_BYTES THEN the message links it and carries no file, though Discord would take it', async () => {
    await start({ env: { MAX_VIDEO_BYTES: '40000' }, videoBytes: 64 * 1024 });
    const handle = await prompt('a paper boat on a river');
    const job = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    const message = h.discord.originalMessage(handle.token)!;
    expect(message.attachments).toEqual([]);
    expect(message.content).toContain(job.resultUrls[0]!);
    expect(h.discord.requestsAfter(handle.seq).flatMap((r) => r.files)).toEqual([]);
    expect(job.interaction.attachmentSizeLimit ?? 0).toBeGreaterThan(64 * 1024);
  });

  it('GIVEN a 1080P URL serving something other than an MP4 THEN the clicker is told, nothing is posted, no link is shown', async () => {
    await start();
    const handle = await prompt('a red kite over hills');
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    const url = h.kie.addVideo(`${done.taskId!}-1080p.mp4`, Buffer.from('<html>not a video</html>'));
    const click = await h.discord.buttonClick({ customId: `veo:hd:${done.id}`, messageId: done.messageId! });
    const reply = await h.discord.waitForRequest(
      (r) => isOriginalEdit(r, click.token) && String(bodyOf(r).content) === t('en-US', 'hd.refused'),
      { afterSeq: click.seq },
    );
    expect(reply.files).toEqual([]);
    // The reply goes out first, then the record settles.
    let hd = (await h.bot.jobs.get(done.id))?.hd;
    for (let i = 0; i < 200 && hd?.state === 'preparing'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      hd = (await h.bot.jobs.get(done.id))?.hd;
    }
    expect(hd).toMatchObject({ state: 'failed', url: null });
    expect(JSON.stringify(h.discord.requestsAfter(click.seq).map(bodyOf))).not.toContain(url);
  });

  it('GIVEN a prompt with a masked link and a heading THEN it is escaped in the job embed and in /veo jobs', async () => {
    await start();
    const text = '# FREE [Claim your Nitro](https://evil.example/claim) **now**';
    const handle = await prompt(text);
    await h.job(handle.interactionId, (j) => j.state === 'delivered');
    const embed = h.discord.originalMessage(handle.token)!.embeds[0] as { description: string };
    expect(embed.description).toBe('\\# FREE \\[Claim your Nitro](https://evil.example/claim) \\*\\*now\\*\\*');

    const list = await h.discord.slashCommand({ name: 'veo', subcommand: 'jobs' });
    const edit = await h.discord.waitForRequest((r) => isOriginalEdit(r, list.token), { afterSeq: list.seq });
    const line = (bodyOf(edit).embeds as { description: string }[])[0]!.description;
    expect(line).toContain('\\[Claim your Nitro](https://evil.example/claim)');
    expect(line).not.toMatch(/(^|[^\\])\[Claim/);
  });
});
