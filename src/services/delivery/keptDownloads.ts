import type { Clock } from '../../lib/clock.js';
import { DownloadError, type DownloadResult } from '../../lib/download.js';
import type { OutgoingFile } from './rest.js';

export type Download = (url: string, capBytes: number) => Promise<DownloadResult>;

/** What a message can carry under one upload limit: the bytes, or only the link. */
type Fetched = { readonly kind: 'file'; readonly data: Buffer } | { readonly kind: 'link' };

interface Kept {
  data: Buffer | null;
  /** The largest cap the file was found to exceed. */
  tooLargeAt: number;
  /** The URL answered for good that there is nothing there (a 404): only a link can be offered. */
  gone: boolean;
  usedAt: number;
}

export interface KeptDownloadsOptions {
  readonly download: Download;
  readonly clock: Clock;
  /** The most bytes kept between attempts, all URLs together. */
  readonly maxBytes: number;
  /** An entry not asked for in this long is dropped. */
  readonly idleMs: number;
}

/**
 * Downloads kept between delivery attempts, so a retry after a Discord failure does not fetch the video
 * again (DESIGN §4). Bounded: the least recently used bytes go first; the caller releases a URL once its
 * delivery is over. What is learnt without bytes (too large for a cap, gone) is kept too.
 */
export class KeptDownloads {
  readonly #kept = new Map<string, Kept>();
  #bytes = 0;

  constructor(private readonly options: KeptDownloadsOptions) {}

  /**
   * The video at `url` as an mp4 attachment named `name`, or null when only its link can be offered (over
   * `capBytes`, or gone). A download failure that may pass later is thrown.
   */
  async attachment(url: string, capBytes: number, name: string): Promise<OutgoingFile | null> {
    const got = await this.#fetch(url, capBytes);
    return got.kind === 'file' ? { name, data: got.data, contentType: 'video/mp4' } : null;
  }

  async #fetch(url: string, capBytes: number): Promise<Fetched> {
    const known = this.#known(url, capBytes);
    if (known) return known;
    let result: DownloadResult;
    try {
      result = await this.options.download(url, capBytes);
    } catch (error) {
      // A result URL that is gone for good can still be offered as a link; anything else is retried.
      if (!(error instanceof DownloadError) || error.transient) throw error;
      this.#entry(url).gone = true;
      return { kind: 'link' };
    }
    const entry = this.#entry(url);
    if (result.kind === 'too_large') {
      entry.tooLargeAt = Math.max(entry.tooLargeAt, capBytes);
      return { kind: 'link' };
    }
    this.#keep(url, entry, result.data);
    return { kind: 'file', data: result.data };
  }

  release(url: string): void {
    const entry = this.#kept.get(url);
    if (!entry) return;
    this.#bytes -= entry.data?.length ?? 0;
    this.#kept.delete(url);
  }

  /** Bytes held now; for tests and metrics. */
  get bytes(): number {
    return this.#bytes;
  }

  #known(url: string, capBytes: number): Fetched | null {
    const entry = this.#kept.get(url);
    if (!entry) return null;
    this.#touch(url, entry);
    if (entry.gone) return { kind: 'link' };
    if (entry.data) return entry.data.length <= capBytes ? { kind: 'file', data: entry.data } : { kind: 'link' };
    return capBytes <= entry.tooLargeAt ? { kind: 'link' } : null;
  }

  #entry(url: string): Kept {
    const existing = this.#kept.get(url);
    if (existing) return existing;
    const entry: Kept = { data: null, tooLargeAt: 0, gone: false, usedAt: this.options.clock.now() };
    this.#kept.set(url, entry);
    this.#dropIdle();
    return entry;
  }

  /** Map order is use order: a touched entry moves to the end. */
  #touch(url: string, entry: Kept): void {
    entry.usedAt = this.options.clock.now();
    this.#kept.delete(url);
    this.#kept.set(url, entry);
  }

  #keep(url: string, entry: Kept, data: Buffer): void {
    if (data.length > this.options.maxBytes) return;
    this.#bytes += data.length - (entry.data?.length ?? 0);
    entry.data = data;
    this.#touch(url, entry);
    for (const [other, kept] of this.#kept) {
      if (this.#bytes <= this.options.maxBytes) break;
      if (other !== url && kept.data) {
        this.#bytes -= kept.data.length;
        kept.data = null;
      }
    }
  }

  #dropIdle(): void {
    const oldest = this.options.clock.now() - this.options.idleMs;
    for (const [url, entry] of this.#kept) {
      if (entry.usedAt >= oldest) break;
      this.release(url);
    }
  }
}
