import { beforeEach, describe, expect, it } from 'vitest';
import { DownloadError, type DownloadResult } from '../../../../src/lib/download.js';
import { KeptDownloads, type Attach } from '../../../../src/services/delivery/keptDownloads.js';
import { MemoryFolder } from '../../../helpers/memoryFolder.js';

describe('KeptDownloads (the file kept across delivery attempts)', () => {
  let now: number;
  let sizes: Map<string, number>;
  let fetched: Array<{ url: string; cap: number }>;
  let folder: MemoryFolder;
  let kept: KeptDownloads;

  function keptWith(download: (url: string, cap: number) => Promise<DownloadResult>, maxBytes = 1_000) {
    return new KeptDownloads({
      download: folder.writes(download),
      folder,
      clock: { now: () => now },
      maxBytes,
      idleMs: 60_000,
    });
  }

  beforeEach(() => {
    now = 0;
    sizes = new Map([
      ['a', 400],
      ['b', 400],
      ['c', 400],
    ]);
    fetched = [];
    folder = new MemoryFolder();
    kept = keptWith(async (url, cap) => {
      fetched.push({ url, cap });
      const size = sizes.get(url);
      if (size === undefined) throw new DownloadError('download answered HTTP 404', 404);
      if (size > cap) return { kind: 'too_large' };
      return { kind: 'ok', data: Buffer.alloc(size, url), contentType: 'video/mp4' };
    });
  });

  /** One delivery attempt of `url` that asks for its file under `cap`. */
  const attempt = (url: string, cap: number, name = `${url}.mp4`) => kept.using(url, (attach) => attach(cap, name));

  it('GIVEN a kept file THEN a later attempt under any limit it fits is answered without a download', async () => {
    const first = await attempt('a', 500);
    expect(first?.data.size).toBe(400);
    expect(first?.data.type).toBe('video/mp4');
    expect(Buffer.from(await first!.data.arrayBuffer()).equals(Buffer.alloc(400, 'a'))).toBe(true);
    expect((await attempt('a', 10_000))?.name).toBe('a.mp4');
    expect(await attempt('a', 100)).toBeNull();

    expect(fetched).toEqual([{ url: 'a', cap: 500 }]);
    expect(folder.files.size).toBe(1);
  });

  it('GIVEN a file too large for one cap THEN a smaller cap is not tried again, a larger one is', async () => {
    expect(await attempt('a', 300)).toBeNull();
    expect(await attempt('a', 200)).toBeNull();
    expect(await attempt('a', 500)).not.toBeNull();

    expect(fetched.map((f) => f.cap)).toEqual([300, 500]);
  });

  it('GIVEN a URL that is gone for good THEN only the link is offered, and it is not asked again', async () => {
    expect(await attempt('gone', 500)).toBeNull();
    expect(await attempt('gone', 500)).toBeNull();

    expect(fetched).toHaveLength(1);
  });

  it('GIVEN a failure that may pass THEN it is thrown and nothing is remembered', async () => {
    const flaky = keptWith(() => Promise.reject(new DownloadError('download answered HTTP 503', 503)));
    await expect(flaky.using('a', (attach) => attach(500, 'a.mp4'))).rejects.toMatchObject({ status: 503 });
    expect(flaky.bytes).toBe(0);
    expect(folder.files.size).toBe(0);
  });

  it('GIVEN more bytes than the bound THEN the least recently used files are removed first', async () => {
    await attempt('a', 500);
    await attempt('b', 500);
    await attempt('a', 500);
    await attempt('c', 500);

    expect(kept.bytes).toBe(800);
    expect(folder.files.size).toBe(2);
    await attempt('a', 500);
    await attempt('b', 500);
    expect(fetched.map((f) => f.url)).toEqual(['a', 'b', 'c', 'b']);
  });

  it('GIVEN a delivery over THEN release removes its file', async () => {
    await attempt('a', 500);
    await kept.release('a');

    expect(kept.bytes).toBe(0);
    expect(folder.files.size).toBe(0);
    await attempt('a', 500);
    expect(fetched).toHaveLength(2);
  });

  it('GIVEN an entry nobody asked for past the idle time THEN its file goes at the next attempt', async () => {
    await attempt('a', 500);
    now = 60_001;
    await attempt('b', 500);

    expect(kept.bytes).toBe(400);
    expect(folder.files.size).toBe(1);
  });

  it('GIVEN an attempt still uploading a file THEN neither the bound, the idle time nor release removes it under it', async () => {
    let resume: () => void = () => undefined;
    const paused = new Promise<void>((resolve) => (resume = resolve));
    let attach: Attach | null = null;
    const uploading = kept.using('a', async (given) => {
      attach = given;
      const file = await given(500, 'a.mp4');
      await paused;
      return file;
    });
    while (attach === null || folder.files.size === 0) await new Promise((r) => setImmediate(r));
    const [aFile] = folder.files.keys();
    now = 60_001;
    await attempt('b', 500);
    await attempt('c', 500);
    await kept.release('a');
    // b went for the bound (least recently used, not in use); a stays while its upload runs.
    expect([...folder.files.keys()]).toEqual([aFile, '/memory/3.mp4']);

    resume();
    const file = await uploading;
    expect(file?.data.size).toBe(400);
    expect([...folder.files.keys()]).toEqual(['/memory/3.mp4']);
    expect(kept.bytes).toBe(400);
  });

  it('GIVEN a file larger than the whole bound THEN its attempt gets it, and it is gone after', async () => {
    sizes.set('huge', 5_000);
    expect((await attempt('huge', 10_000))?.data.size).toBe(5_000);

    expect(folder.files.size).toBe(0);
    expect(kept.bytes).toBe(0);
  });

  it('GIVEN shutdown THEN every file goes with the folder', async () => {
    await attempt('a', 500);
    await attempt('b', 500);
    await kept.close();

    expect(folder.files.size).toBe(0);
    expect(folder.closed).toBe(1);
    expect(kept.bytes).toBe(0);
  });
});
