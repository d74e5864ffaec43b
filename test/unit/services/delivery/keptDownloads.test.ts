import { beforeEach, describe, expect, it } from 'vitest';
import { DownloadError, type DownloadResult } from '../../../../src/lib/download.js';
import { KeptDownloads } from '../../../../src/services/delivery/keptDownloads.js';

describe('KeptDownloads (the file kept across delivery attempts)', () => {
  let now: number;
  let sizes: Map<string, number>;
  let fetched: Array<{ url: string; cap: number }>;
  let kept: KeptDownloads;

  beforeEach(() => {
    now = 0;
    sizes = new Map([
      ['a', 400],
      ['b', 400],
      ['c', 400],
    ]);
    fetched = [];
    kept = new KeptDownloads({
      download: async (url, cap): Promise<DownloadResult> => {
        fetched.push({ url, cap });
        const size = sizes.get(url);
        if (size === undefined) throw new DownloadError('download answered HTTP 404', 404);
        if (size > cap) return { kind: 'too_large' };
        return { kind: 'ok', data: Buffer.alloc(size, url), contentType: 'video/mp4' };
      },
      clock: { now: () => now },
      maxBytes: 1_000,
      idleMs: 60_000,
    });
  });

  it('GIVEN a kept file THEN a later attempt under any limit it fits is answered without a download', async () => {
    expect((await kept.attachment('a', 500, 'a.mp4'))?.data.length).toBe(400);
    expect((await kept.attachment('a', 10_000, 'a.mp4'))?.name).toBe('a.mp4');
    expect(await kept.attachment('a', 100, 'a.mp4')).toBeNull();

    expect(fetched).toEqual([{ url: 'a', cap: 500 }]);
  });

  it('GIVEN a file too large for one cap THEN a smaller cap is not tried again, a larger one is', async () => {
    expect(await kept.attachment('a', 300, 'a.mp4')).toBeNull();
    expect(await kept.attachment('a', 200, 'a.mp4')).toBeNull();
    expect(await kept.attachment('a', 500, 'a.mp4')).not.toBeNull();

    expect(fetched.map((f) => f.cap)).toEqual([300, 500]);
  });

  it('GIVEN a URL that is gone for good THEN only the link is offered, and it is not asked again', async () => {
    expect(await kept.attachment('gone', 500, 'g.mp4')).toBeNull();
    expect(await kept.attachment('gone', 500, 'g.mp4')).toBeNull();

    expect(fetched).toHaveLength(1);
  });

  it('GIVEN a failure that may pass THEN it is thrown and nothing is remembered', async () => {
    const flaky = new KeptDownloads({
      download: () => Promise.reject(new DownloadError('download answered HTTP 503', 503)),
      clock: { now: () => now },
      maxBytes: 1_000,
      idleMs: 60_000,
    });
    await expect(flaky.attachment('a', 500, 'a.mp4')).rejects.toMatchObject({ status: 503 });
    expect(flaky.bytes).toBe(0);
  });

  it('GIVEN more bytes than the bound THEN the least recently used are dropped first', async () => {
    await kept.attachment('a', 500, 'a.mp4');
    await kept.attachment('b', 500, 'b.mp4');
    await kept.attachment('a', 500, 'a.mp4');
    await kept.attachment('c', 500, 'c.mp4');

    expect(kept.bytes).toBe(800);
    await kept.attachment('a', 500, 'a.mp4');
    await kept.attachment('b', 500, 'b.mp4');
    expect(fetched.map((f) => f.url)).toEqual(['a', 'b', 'c', 'b']);
  });

  it('GIVEN a delivery over THEN release frees its bytes', async () => {
    await kept.attachment('a', 500, 'a.mp4');
    kept.release('a');

    expect(kept.bytes).toBe(0);
    await kept.attachment('a', 500, 'a.mp4');
    expect(fetched).toHaveLength(2);
  });

  it('GIVEN an entry nobody asked for past the idle time THEN it is dropped at the next download', async () => {
    await kept.attachment('a', 500, 'a.mp4');
    now = 60_001;
    await kept.attachment('b', 500, 'b.mp4');

    expect(kept.bytes).toBe(400);
  });
});
