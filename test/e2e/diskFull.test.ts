import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyOf, isCallback, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';

const STRING = 3;
const EPHEMERAL = 64;

/** Writes until the file system says ENOSPC, in ever smaller pieces, so not one byte is left. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (let chunk = 1 << 16; chunk >= 1; chunk >>= 2) {
      const bytes = Buffer.alloc(chunk, 7);
      for (;;) {
        try {
          written += writeSync(fd, bytes);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/**
 * The store on a real file system filled to 100 % (a 4 MiB tmpfs): SQLite answers SQLITE_FULL to every
 * write. Mounting needs root, which this machine, CI and `npm test` have; without it the test fails and
 * says so, it is never skipped.
 */
describe('the SQLite file on a full file system (a real tmpfs, filled to 100 %)', () => {
  let dir: string;
  let mounted = false;
  let h: Harness;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) {
      throw new Error(
        'This test mounts a tmpfs and fills it to 100 %, which needs root: run npm test as root (CI does), ' +
          'or in a container started with --privileged.',
      );
    }
    dir = mkdtempSync(path.join(tmpdir(), 'veo-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? '');
      throw new Error(`This test needs to mount a tmpfs (root with CAP_SYS_ADMIN): mount said ${stderr.trim()}`);
    }
    mounted = true;
    h = await startHarness({
      env: { STORE_URL: `sqlite://${path.join(dir, 'bot.sqlite')}` },
      bot: { stepRetryBaseMs: 100 },
    });
  });

  afterAll(async () => {
    const violations = h ? [...h.discord.violations] : [];
    await h?.close();
    if (mounted) execFileSync('umount', [dir]);
    if (dir) rmdirSync(dir);
    expect(violations).toEqual([]);
  });

  it('GIVEN the disk fills while a job generates THEN a new command is refused (nothing charged), the job waits on record, and once space is back it is delivered once', async () => {
    h.kie.autoComplete = null;
    const member = '820000000000000001';
    const handle = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: STRING, value: 'a paper crane unfolding' }],
      userId: member,
    });
    await h.discord.waitForRequest(
      (r) => isOriginalEdit(r, handle.token) && String(bodyOf(r).content).includes('Generating'),
      { afterSeq: handle.seq },
    );
    const generate = await h.kie.waitFor((r) => r.method === 'POST' && r.path === '/api/v1/veo/generate');

    const filler = path.join(dir, 'filler');
    expect(fill(filler)).toBeGreaterThan(0);
    const other = '820000000000000002';
    const refused = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: STRING, value: 'a kite' }],
      userId: other,
    });
    const answer = await h.discord.waitForRequest((r) => isCallback(r, refused.interactionId), {
      afterSeq: refused.seq,
    });
    const data = bodyOf(answer).data as { content?: string; flags?: number };
    expect(data.flags).toBe(EPHEMERAL);
    expect(data.content).toMatch(/could not reach its storage/);

    h.kie.completeTask(generate.taskId!);
    await h.kie.waitFor((r) => r.path === '/api/v1/veo/record-info' && r.query.taskId === generate.taskId, 5_000);
    await new Promise((r) => setTimeout(r, 500));
    const jobId = (await h.job(handle.interactionId)).id;
    const full = h.logs.filter(
      (l) =>
        l.message === 'job step failed; trying again' &&
        l.fields.jobId === jobId &&
        /SQLITE_FULL/.test(JSON.stringify(l.fields)),
    );
    expect(full.length).toBeGreaterThan(0);
    expect((await h.bot.jobs.get(jobId))?.state).toBe('generating');

    rmSync(filler);
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    const videos = [...h.discord.messages.values()].filter((m) =>
      m.attachments.some((a) => a.filename === `veo-${done.id}.mp4`),
    );
    expect(videos).toHaveLength(1);
    const guildId = h.discord.guild.id;
    expect((await h.bot.quota.status({ guildId, userId: member })).remaining).toBe(4);
    for (let i = 0; i < 50 && h.bot.runner.busy; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await h.bot.quota.status({ guildId, userId: other })).remaining).toBe(5);
    expect(h.kie.generateRequests()).toHaveLength(1);
  });
});
