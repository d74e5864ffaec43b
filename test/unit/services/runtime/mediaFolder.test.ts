import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../src/logger.js';
import { KeptDownloads } from '../../../../src/services/delivery/keptDownloads.js';
import { MediaFolder, mediaRootFor } from '../../../../src/services/runtime/mediaFolder.js';

const NS = 'pid:[4026531836]';

describe('MediaFolder (temporary media files on disk, cleaned after a crash)', () => {
  let root: string;
  const alive = new Set<number>();

  const folder = (pid: number, host = 'bot-host', pidNamespace: string | null = NS) =>
    new MediaFolder({ root, logger: silentLogger, pid, host, pidNamespace, isProcessAlive: (p) => alive.has(p) });

  async function leftover(name: string): Promise<void> {
    await mkdir(path.join(root, name));
    await writeFile(path.join(root, name, 'video.mp4'), 'bytes');
  }

  beforeEach(async () => {
    root = path.join(await mkdtemp(path.join(tmpdir(), 'veo-media-')), 'media');
    alive.clear();
  });

  afterEach(async () => {
    await rm(path.dirname(root), { recursive: true, force: true });
  });

  it('GIVEN a SQLite store THEN the files live beside it; on Redis in the system temp dir', () => {
    expect(mediaRootFor({ kind: 'sqlite', file: '/var/lib/veo/bot.sqlite' })).toBe('/var/lib/veo/media');
    expect(mediaRootFor({ kind: 'redis', url: 'redis://r:6379', prefix: '' })).toBe(
      path.join(tmpdir(), 'veo-bot-media'),
    );
  });

  it('GIVEN folders of dead, live and foreign processes THEN open removes only what dead ones of this host left', async () => {
    alive.add(200);
    await mkdir(root, { recursive: true });
    await leftover('bot_host-4026531836-100');
    await leftover('bot_host-4026531836-200');
    await leftover('other_host-4026531836-100');
    await leftover('bot_host-4026532000-100');
    await leftover('not-ours');

    const mine = folder(300);
    expect(await mine.open()).toBe(1);

    expect((await readdir(root)).sort()).toEqual(
      [
        'bot_host-4026531836-200',
        'bot_host-4026531836-300',
        'bot_host-4026532000-100',
        'not-ours',
        'other_host-4026531836-100',
      ].sort(),
    );
    expect((await stat(mine.path)).mode & 0o777).toBe(0o700);
  });

  it('GIVEN the folder of an earlier process with this very pid (a restarted container) THEN it is emptied', async () => {
    alive.add(1);
    await mkdir(root, { recursive: true });
    await leftover('bot_host-4026531836-1');

    const mine = folder(1);
    expect(await mine.open()).toBe(1);
    expect(await readdir(mine.path)).toEqual([]);
  });

  it('GIVEN kept downloads on disk THEN a retry keeps the file, release removes it, shutdown removes the folder', async () => {
    const mine = folder(300);
    const kept = new KeptDownloads({
      download: async (_, __, file) => {
        await writeFile(file, Buffer.alloc(1000, 7));
        return { kind: 'ok', file, bytes: 1000 };
      },
      folder: mine,
      clock: { now: () => 0 },
    });
    await kept.open();

    const attach = (url: string) => kept.using(url, (given) => given(10_000, 'v.mp4'));
    const sent = await attach('https://files.test/a.mp4');
    expect(Buffer.from(await sent!.data.arrayBuffer()).equals(Buffer.alloc(1000, 7))).toBe(true);
    expect(await readdir(mine.path)).toHaveLength(1);
    // A second read of the same Blob, as a retried upload makes.
    expect(await sent!.data.arrayBuffer()).toHaveProperty('byteLength', 1000);

    await attach('https://files.test/b.mp4');
    await kept.release('https://files.test/a.mp4');
    expect(await readdir(mine.path)).toHaveLength(1);

    await kept.close();
    expect(await readdir(root)).toEqual([]);
  });
});
