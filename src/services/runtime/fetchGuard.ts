import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import {
  declaredLength,
  DownloadError,
  readCapped,
  writeCapped,
  type CappedReadOptions,
  type DownloadResult,
  type FileDownloadResult,
} from '../../lib/download.js';
import { isMp4, sniffImageType, SNIFF_BYTES } from '../../lib/mediaType.js';
import { USER_AGENT } from '../../version.js';
import { bareHost, isPublicAddress } from './addresses.js';

export type MediaKind = 'video' | 'image';

/** Why a URL was refused: none of these is ever fetched (or, for `not_media`, ever posted). */
export type MediaRefusal = 'not_https' | 'not_public' | 'too_many_redirects' | 'bad_url' | 'not_media';

/** A media URL the bot will not fetch, or bytes it will not post. Never transient: the job fails. */
export class MediaRefusedError extends Error {
  constructor(
    readonly reason: MediaRefusal,
    /** The host refused (never the path or query, which may be signed). */
    readonly host: string | null,
  ) {
    super(`media refused (${reason}${host ? `: ${host}` : ''})`);
    this.name = 'MediaRefusedError';
  }
}

export interface ResolvedAddress {
  readonly address: string;
  readonly family: number;
}

export type Resolve = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export interface FetchGuardOptions {
  /** The one outbound Agent (DESIGN §2: built in the composition root). */
  readonly dispatcher: Dispatcher;
  /** Origins (`http://127.0.0.1:4010`) allowed although plain http or private: TRUSTED_MEDIA_ORIGINS. */
  readonly trustedOrigins: ReadonlySet<string>;
  readonly maxBytes: Readonly<Record<MediaKind, number>>;
  readonly resolve?: Resolve;
  readonly timeoutMs?: number;
}

export const MAX_REDIRECTS = 3;
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

const accepts: Readonly<Record<MediaKind, (head: Buffer) => boolean>> = {
  video: isMp4,
  image: (head) => sniffImageType(head) !== null,
};

const systemResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** Where one hop's request goes: the address that was checked, never a second DNS answer. */
interface Hop {
  readonly origin: string;
  readonly host: string;
  /** TLS: the certificate is checked against the name, while the socket goes to the checked address. */
  readonly servername: string | null;
}

/**
 * The one outbound-media fetch (DESIGN §7) for kie result and 1080P URLs and Discord attachments: https
 * only, every address of the host public (unless its origin is trusted), at most 3 redirects each checked
 * the same way, the connection made to the address that was checked, the body capped, and the first bytes
 * those of the expected kind (an MP4 `ftyp` box, an image's magic bytes).
 */
export class MediaFetchGuard {
  readonly #resolve: Resolve;
  readonly #timeoutMs: number;

  constructor(private readonly options: FetchGuardOptions) {
    this.#resolve = options.resolve ?? systemResolve;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
  }

  /**
   * The bytes at `url`, or `too_large` when they exceed `capBytes` (or the kind's own maximum). Throws
   * MediaRefusedError for a URL or body that must not be used, DownloadError for an HTTP or network failure.
   */
  async fetch(url: string, kind: MediaKind, capBytes: number): Promise<DownloadResult> {
    const { body, read, host } = await this.#open(url, kind, capBytes);
    const got = await consumed(() => readCapped(body, read));
    if (got.kind === 'unexpected') throw new MediaRefusedError('not_media', host);
    if (got.kind === 'too_large') return got;
    const contentType = kind === 'video' ? 'video/mp4' : sniffImageType(got.data);
    return { kind: 'ok', data: got.data, contentType };
  }

  /**
   * The same fetch, streamed into `file` (created owner-only), so memory does not grow with the size;
   * whatever fails or is refused leaves no file behind.
   */
  async download(url: string, kind: MediaKind, capBytes: number, file: string): Promise<FileDownloadResult> {
    const { body, read, host } = await this.#open(url, kind, capBytes);
    const got = await consumed(() => writeCapped(body, file, read));
    if (got.kind === 'unexpected') throw new MediaRefusedError('not_media', host);
    return got.kind === 'ok' ? { kind: 'ok', file, bytes: got.bytes } : got;
  }

  /** Follows the checked hops to a 2xx answer: its body, and how to read it (the cap, the head check). */
  async #open(
    url: string,
    kind: MediaKind,
    capBytes: number,
  ): Promise<{ body: Dispatcher.ResponseData['body']; read: CappedReadOptions; host: string }> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let current = parseUrl(url);
    for (let redirects = 0; ; redirects++) {
      const hop = await this.#check(current);
      const response = await this.#request(current, hop, signal);
      const { statusCode, headers, body } = response;
      if (REDIRECTS.has(statusCode)) {
        await body.dump().catch(() => undefined);
        if (redirects >= MAX_REDIRECTS) throw new MediaRefusedError('too_many_redirects', current.hostname);
        const location = Array.isArray(headers.location) ? headers.location[0] : headers.location;
        if (!location) throw new DownloadError(`HTTP ${statusCode} without a Location`, statusCode);
        current = parseUrl(location, current);
        continue;
      }
      if (statusCode < 200 || statusCode >= 300) {
        await body.dump().catch(() => undefined);
        throw new DownloadError(`download answered HTTP ${statusCode}`, statusCode);
      }
      const read = {
        capBytes: Math.min(capBytes, this.options.maxBytes[kind]),
        declaredBytes: declaredLength(headers['content-length']),
        head: { bytes: SNIFF_BYTES, accept: accepts[kind] },
      };
      return { body, read, host: current.hostname };
    }
  }

  /** Whether a URL may be offered as a link at all (no fetch): https, or a trusted origin. */
  mayLink(url: string): boolean {
    try {
      const parsed = parseUrl(url);
      return parsed.protocol === 'https:' || this.options.trustedOrigins.has(parsed.origin);
    } catch {
      return false;
    }
  }

  async #check(url: URL): Promise<Hop> {
    const host = url.host;
    if (this.options.trustedOrigins.has(url.origin)) return { origin: url.origin, host, servername: null };
    if (url.protocol !== 'https:') throw new MediaRefusedError('not_https', url.hostname || null);
    const name = bareHost(url.hostname);
    let addresses: readonly ResolvedAddress[];
    if (isIP(name) !== 0) addresses = [{ address: name, family: isIP(name) }];
    else {
      try {
        addresses = await this.#resolve(name);
      } catch (error) {
        throw new DownloadError(`could not resolve the media host: ${nameOf(error)}`, null, { cause: error });
      }
    }
    // Every address must be public: a name that also resolves privately is refused, not load-balanced.
    const first = addresses[0];
    if (!first || !addresses.every((a) => isPublicAddress(a.address)))
      throw new MediaRefusedError('not_public', url.hostname);
    const literal = first.family === 6 ? `[${first.address}]` : first.address;
    const port = url.port === '' ? '' : `:${url.port}`;
    return { origin: `https://${literal}${port}`, host, servername: isIP(name) === 0 ? name : null };
  }

  async #request(url: URL, hop: Hop, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    // undici's own DNS interceptor passes `servername` the same way; it is not in the public typings.
    const options: Dispatcher.RequestOptions & { servername?: string } = {
      origin: hop.origin,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { host: hop.host, 'user-agent': USER_AGENT, accept: '*/*' },
      signal,
      ...(hop.servername === null ? {} : { servername: hop.servername }),
    };
    try {
      return await this.options.dispatcher.request(options);
    } catch (error) {
      throw new DownloadError(`download failed: ${nameOf(error)}`, null, { cause: error });
    }
  }
}

function parseUrl(text: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(text, base);
  } catch {
    throw new MediaRefusedError('bad_url', null);
  }
  // Credentials in a media URL are never ours to send.
  if (url.username !== '' || url.password !== '') throw new MediaRefusedError('bad_url', url.hostname);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new MediaRefusedError('not_https', null);
  return url;
}

/** A body that broke off mid-way is a download failure (transient), whatever the stream threw. */
async function consumed<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    throw new DownloadError(`download interrupted: ${nameOf(error)}`, null, { cause: error });
  }
}

function nameOf(error: unknown): string {
  if (error instanceof Error) return 'code' in error && typeof error.code === 'string' ? error.code : error.name;
  return 'unknown error';
}
