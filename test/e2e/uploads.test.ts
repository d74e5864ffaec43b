import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OPTION } from './helpers/commands.js';
import { isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';
import type { RecordedRequest } from './helpers/loopbackDiscord.js';
import { mediaFiles, mediaFolders } from './helpers/mediaFiles.js';

const MiB = 1024 * 1024;

/**
 * The video goes from kie to a temporary file and from there, as a file-backed Blob, to Discord
 * (@discordjs/rest's own queue, rate limits and retries): nothing of it is held in memory, the file
 * serves every attempt, and it is gone once the delivery is over, however it ended.
 */
describe('uploads from temporary files (real client, loopback Discord and kie, SQLite)', () => {
  let h: Harness;

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  async function generating(text: string) {
    h.kie.autoComplete = null;
    const handle = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: OPTION.string, value: text }],
    });
    const job = await h.job(handle.interactionId, (j) => j.state === 'generating');
    return { handle, taskId: job.taskId! };
  }

  const uploadsOf = (token: string) => (r: RecordedRequest) => isOriginalEdit(r, token) && r.files.length > 0;
  const downloadsOf = (taskId: string) => h.kie.requests.filter((r) => r.path === `/files/${taskId}.mp4`);

  it('GIVEN a 429 with a wait, then a 500, on the upload THEN @discordjs/rest waits and retries, each time with the whole file', async () => {
    h = await startHarness({ videoBytes: 3 * MiB });
    const { handle, taskId } = await generating('a kite over dunes');
    const upload = { method: 'PATCH', pathIncludes: '/messages/@original' };
    h.discord.failNext(upload, { status: 429, code: 0, message: 'You are being rate limited.', retryAfter: 0.3 });
    h.discord.failNext(upload, { status: 500, code: 0, message: 'Internal Server Error' });
    h.kie.completeTask(taskId);
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');

    const sent = h.discord.requests.filter(uploadsOf(handle.token));
    expect(sent.map((r) => r.status)).toEqual([429, 500, 200]);
    const [first] = sent[0]!.files;
    expect(first?.size).toBe(3 * MiB);
    expect(first?.bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    for (const r of sent) expect(r.files[0]?.bytes.equals(first!.bytes)).toBe(true);
    expect(done.deliveryFailures).toBe(0);
    expect(downloadsOf(taskId)).toHaveLength(1);
    expect(await mediaFiles(h.dir)).toEqual([]);
  });

  it('GIVEN Discord failing past the library retries THEN the file waits on disk for the next attempt, and goes once delivered; stop removes the folder', async () => {
    h = await startHarness({ videoBytes: MiB });
    const { handle, taskId } = await generating('a paper crane in rain');
    h.discord.failNext(
      { method: 'PATCH', pathIncludes: '/messages/@original' },
      { status: 503, code: 0, message: 'Service Unavailable' },
      4,
    );
    h.kie.completeTask(taskId);
    await h.job(handle.interactionId, (j) => j.deliveryFailures === 1);
    const waiting = await mediaFiles(h.dir);
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toMatch(/\.mp4$/);

    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    expect(done.deliveryFailures).toBe(1);
    expect(h.discord.requests.filter(uploadsOf(handle.token)).map((r) => r.status)).toEqual([503, 503, 503, 503, 200]);
    expect(downloadsOf(taskId)).toHaveLength(1);
    expect(await mediaFiles(h.dir)).toEqual([]);
    expect(await mediaFolders(h.dir)).toHaveLength(1);

    await h.bot.stop();
    expect(existsSync(path.join(h.dir, 'media'))).toBe(true);
    expect(await mediaFolders(h.dir)).toEqual([]);
  });

  it('GIVEN Discord refusing every form THEN the job is undeliverable and no file is left', async () => {
    h = await startHarness({ videoBytes: MiB });
    const { handle, taskId } = await generating('a glass whale in the sea');
    h.discord.failNext(
      { method: 'PATCH', pathIncludes: '/messages/@original' },
      { status: 400, code: 50035, message: 'Invalid Form Body' },
      2,
    );
    h.kie.completeTask(taskId);
    const job = await h.job(handle.interactionId, (j) => j.state === 'undeliverable');
    expect(job.state).toBe('undeliverable');
    expect(await mediaFiles(h.dir)).toEqual([]);
  });
});
