import type { Clock } from '../../lib/clock.js';
import { DownloadError, type FileDownloadResult } from '../../lib/download.js';
import { KEPT_DOWNLOAD_IDLE_MS, KEPT_DOWNLOADS_BYTES } from './limits.js';
import type { OutgoingFile } from './rest.js';

/** Downloads `url` into `file` (the media fetch guard: capped, its first bytes checked, nothing left on failure). */
export type Download = (url: string, capBytes: number, file: string) => Promise<FileDownloadResult>;

/** Gives the video of one attempt under an upload limit, or null when only its link can be offered. */
export type Attach = (capBytes: number, name: string) => Promise<OutgoingFile | null>;

/** What a message can carry under one upload limit: the file, or only the link. */
type Fetched = { readonly kind: 'file'; readonly file: string } | { readonly kind: 'link' };

interface Kept {
  file: string | null;
  bytes: number;
  /** The largest cap the file was found to exceed. */
  tooLargeAt: number;
  /** The URL answered for good that there is nothing there (a 404): only a link can be offered. */
  gone: boolean;
  usedAt: number;
  /** Attempts running with this entry now: its file is never removed under them. */
  users: number;
  /** To be removed once no attempt uses it (released, or too large to keep). */
  done: boolean;
}

/** This process's own folder for the files (runtime/mediaFolder). */
export interface FileFolder {
  /** Creates it, removing what crashed processes left. */
  open(): Promise<unknown>;
  /** A fresh path inside it (nothing is created). */
  newFile(extension: string): string;
  /** A Blob that reads the file when it is read, each time again (so a retried upload can send it anew). */
  blob(file: string, type: string): Promise<Blob>;
  remove(file: string): Promise<void>;
  /** Removes it and everything in it. */
  close(): Promise<void>;
}

export interface KeptDownloadsOptions {
  readonly download: Download;
  readonly folder: FileFolder;
  readonly clock: Clock;
  /** The most bytes kept on disk between attempts, all URLs together (KEPT_DOWNLOADS_BYTES). */
  readonly maxBytes?: number;
  /** An entry not asked for in this long is dropped (KEPT_DOWNLOAD_IDLE_MS). */
  readonly idleMs?: number;
}

/**
 * Downloads kept between delivery attempts as files, so a retry after a Discord failure does not fetch
 * the video again (DESIGN §4) and no attempt holds a video in memory: the upload streams from a
 * file-backed Blob. Bounded: the least recently used files go first, never one an attempt is using; the
 * caller releases a URL once its delivery is over. What is learnt without bytes (too large for a cap,
 * gone) is kept too.
 */
export class KeptDownloads {
  readonly #kept = new Map<string, Kept>();
  readonly #maxBytes: number;
  readonly #idleMs: number;
  #bytes = 0;

  constructor(private readonly options: KeptDownloadsOptions) {
    this.#maxBytes = options.maxBytes ?? KEPT_DOWNLOADS_BYTES;
    this.#idleMs = options.idleMs ?? KEPT_DOWNLOAD_IDLE_MS;
  }

  /** Before the first delivery: the folder exists, and nothing a crashed process left is in it. */
  async open(): Promise<void> {
    await this.options.folder.open();
  }

  /**
   * Runs one delivery attempt of the video at `url`: `attempt` gets it as an mp4 attachment per upload
   * limit (a download failure that may pass later is thrown), and its file stays until the attempt ends.
   */
  async using<T>(url: string, attempt: (attach: Attach) => Promise<T>): Promise<T> {
    const entry = this.#entry(url);
    entry.users++;
    await this.#evict(url);
    try {
      return await attempt(async (capBytes, name) => {
        const got = await this.#fetch(url, entry, capBytes);
        if (got.kind === 'link') return null;
        return { name, data: await this.options.folder.blob(got.file, 'video/mp4') };
      });
    } finally {
      entry.users--;
      if (entry.done) await this.#drop(url, entry);
    }
  }

  /** The delivery is over: its file goes now (or when the attempt still using it ends). */
  async release(url: string): Promise<void> {
    const entry = this.#kept.get(url);
    if (!entry) return;
    entry.done = true;
    await this.#drop(url, entry);
  }

  /** Shutdown: every file goes, used or not (the next start downloads again what it still needs). */
  async close(): Promise<void> {
    for (const entry of this.#kept.values()) entry.file = null;
    this.#kept.clear();
    this.#bytes = 0;
    await this.options.folder.close();
  }

  /** Bytes kept on disk now; for tests and metrics. */
  get bytes(): number {
    return this.#bytes;
  }

  async #fetch(url: string, entry: Kept, capBytes: number): Promise<Fetched> {
    this.#touch(url, entry);
    if (entry.gone) return { kind: 'link' };
    if (entry.file !== null) return entry.bytes <= capBytes ? { kind: 'file', file: entry.file } : { kind: 'link' };
    if (capBytes <= entry.tooLargeAt) return { kind: 'link' };
    let result: FileDownloadResult;
    try {
      result = await this.options.download(url, capBytes, this.options.folder.newFile('.mp4'));
    } catch (error) {
      // A result URL that is gone for good can still be offered as a link; anything else is retried.
      if (!(error instanceof DownloadError) || error.transient) throw error;
      entry.gone = true;
      return { kind: 'link' };
    }
    if (result.kind === 'too_large') {
      entry.tooLargeAt = Math.max(entry.tooLargeAt, capBytes);
      return { kind: 'link' };
    }
    entry.file = result.file;
    entry.bytes = result.bytes;
    this.#bytes += result.bytes;
    // Larger than every kept file may be together: used by this attempt, then gone.
    if (result.bytes > this.#maxBytes) entry.done = true;
    await this.#evict(url);
    return { kind: 'file', file: result.file };
  }

  #entry(url: string): Kept {
    const existing = this.#kept.get(url);
    if (existing) return existing;
    const entry: Kept = {
      file: null,
      bytes: 0,
      tooLargeAt: 0,
      gone: false,
      usedAt: this.options.clock.now(),
      users: 0,
      done: false,
    };
    this.#kept.set(url, entry);
    return entry;
  }

  /** Map order is use order: a touched entry moves to the end. */
  #touch(url: string, entry: Kept): void {
    entry.usedAt = this.options.clock.now();
    if (this.#kept.get(url) !== entry) return;
    this.#kept.delete(url);
    this.#kept.set(url, entry);
  }

  /** Idle entries, then the least recently used files past the bound; never one in use. */
  async #evict(keep: string): Promise<void> {
    const oldest = this.options.clock.now() - this.#idleMs;
    const drops: Promise<void>[] = [];
    let bytes = this.#bytes;
    for (const [url, entry] of this.#kept) {
      if (url === keep || entry.users > 0) continue;
      if (entry.usedAt < oldest) {
        bytes -= entry.bytes;
        drops.push(this.#drop(url, entry));
      } else if (bytes > this.#maxBytes && entry.file !== null) {
        bytes -= entry.bytes;
        drops.push(this.#forgetFile(entry));
      }
    }
    await Promise.all(drops);
  }

  async #drop(url: string, entry: Kept): Promise<void> {
    if (entry.users > 0) return;
    if (this.#kept.get(url) === entry) this.#kept.delete(url);
    await this.#forgetFile(entry);
  }

  async #forgetFile(entry: Kept): Promise<void> {
    const file = entry.file;
    this.#bytes -= entry.bytes;
    entry.bytes = 0;
    entry.file = null;
    if (file !== null) await this.options.folder.remove(file);
  }
}
