import type { DownloadResult, FileDownloadResult } from '../../src/lib/download.js';
import type { Clock } from '../../src/lib/clock.js';
import { MiB } from '../../src/services/delivery/limits.js';
import { KeptDownloads, type Download, type FileFolder } from '../../src/services/delivery/keptDownloads.js';

/** A media folder in memory, for unit tests of the delivery services (the real one is tested on disk). */
export class MemoryFolder implements FileFolder {
  readonly files = new Map<string, Buffer>();
  closed = 0;
  #next = 0;

  async open(): Promise<void> {}

  newFile(extension: string): string {
    this.#next += 1;
    return `/memory/${String(this.#next)}${extension}`;
  }

  async blob(file: string, type: string): Promise<Blob> {
    const data = this.files.get(file);
    if (!data) throw new Error(`no file ${file}`);
    return new Blob([data], { type });
  }

  async remove(file: string): Promise<void> {
    this.files.delete(file);
  }

  async close(): Promise<void> {
    this.files.clear();
    this.closed += 1;
  }

  /** A download that writes what `answer` fetched into this folder, as the media fetch guard does. */
  writes(answer: (url: string, capBytes: number) => Promise<DownloadResult>): Download {
    return async (url, capBytes, file): Promise<FileDownloadResult> => {
      const result = await answer(url, capBytes);
      if (result.kind !== 'ok') return result;
      this.files.set(file, result.data);
      return { kind: 'ok', file, bytes: result.data.length };
    };
  }
}

/** KeptDownloads over `folder` fetching with `answer`: 64 MiB kept, an hour idle, as the delivery unit tests use it. */
export function keptInMemory(
  folder: MemoryFolder,
  clock: Clock,
  answer: (url: string, capBytes: number) => Promise<DownloadResult>,
): KeptDownloads {
  return new KeptDownloads({ download: folder.writes(answer), folder, clock, maxBytes: 64 * MiB, idleMs: 60 * 60_000 });
}
