import { open, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';

export type DownloadResult =
  { readonly kind: 'ok'; readonly data: Buffer; readonly contentType: string | null } | { readonly kind: 'too_large' };

/** A download written to a file: its path and size, or nothing written (the file is gone again). */
export type FileDownloadResult =
  { readonly kind: 'ok'; readonly file: string; readonly bytes: number } | { readonly kind: 'too_large' };

export class DownloadError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DownloadError';
  }

  /** A missing file stays missing; anything else may work next time. */
  get transient(): boolean {
    return this.status === null || this.status >= 500 || this.status === 429;
  }
}

type Refusal = { readonly kind: 'too_large' } | { readonly kind: 'unexpected' };

export type CappedRead =
  | { readonly kind: 'ok'; readonly data: Buffer }
  | { readonly kind: 'too_large' }
  /** The first bytes are not what the caller expects (an HTML page served as video/mp4). */
  | { readonly kind: 'unexpected' };

export type CappedWrite = { readonly kind: 'ok'; readonly bytes: number } | Refusal;

export interface CappedReadOptions {
  readonly capBytes: number;
  /** The response's Content-Length, when it sent one. */
  readonly declaredBytes: number | null;
  /** Judged as soon as this many bytes arrived (or at the end, if fewer came), before the rest is read. */
  readonly head?: { readonly bytes: number; readonly accept: (head: Buffer) => boolean };
}

/** A header's Content-Length as a number, or null when absent or not a number. */
export function declaredLength(value: string | string[] | undefined): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^\d{1,15}$/.test(text.trim())) return null;
  return Number(text);
}

const ignore = () => undefined;

/**
 * Passes each chunk of `body` to `take`, never more than `capBytes` in all: a declared length over the
 * cap is refused before reading, a body that grows past it is cut off, and the head is judged before
 * the chunk that completes it is taken. Errors of the stream are thrown as they are.
 */
async function drain(
  body: Readable,
  options: CappedReadOptions,
  take: (chunk: Buffer, received: number) => Promise<void> | void,
): Promise<{ readonly kind: 'ok'; readonly received: number } | Refusal> {
  const { capBytes, declaredBytes, head } = options;
  // undici 6 reports a body destroyed on purpose as an 'error' that nobody awaits; real errors still
  // reach the loop below through the iterator.
  body.on('error', ignore);
  if (declaredBytes !== null && declaredBytes > capBytes) {
    body.destroy();
    return { kind: 'too_large' };
  }
  const limit = declaredBytes ?? capBytes;
  let first: Buffer[] | null = head === undefined ? null : [];
  let received = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    if (received + buffer.length > limit) {
      body.destroy();
      if (declaredBytes !== null) throw new DownloadError('body longer than its declared length', null);
      return { kind: 'too_large' };
    }
    received += buffer.length;
    if (first && head) {
      first.push(buffer);
      if (received >= head.bytes) {
        const accepted = head.accept(Buffer.concat(first, received).subarray(0, head.bytes));
        first = null;
        if (!accepted) {
          body.destroy();
          return { kind: 'unexpected' };
        }
      }
    }
    await take(buffer, received - buffer.length);
  }
  if (declaredBytes !== null && received !== declaredBytes) {
    throw new DownloadError('body ended before its declared length', null);
  }
  if (first && head && !head.accept(Buffer.concat(first, received))) return { kind: 'unexpected' };
  return { kind: 'ok', received };
}

/** Reads a body into one Buffer without ever holding more than `capBytes` (kie answers, images). */
export async function readCapped(body: Readable, options: CappedReadOptions): Promise<CappedRead> {
  // With a declared length the bytes go straight into one buffer: no chunk list, no second copy to join.
  const sized = options.declaredBytes === null ? null : Buffer.allocUnsafe(options.declaredBytes);
  const chunks: Buffer[] = [];
  const drained = await drain(body, options, (chunk, at) => {
    if (sized) chunk.copy(sized, at);
    else chunks.push(chunk);
  });
  if (drained.kind !== 'ok') return drained;
  return { kind: 'ok', data: sized ?? Buffer.concat(chunks, drained.received) };
}

/**
 * Streams a body into a new file (owner-only) with the same cap and head check, so memory does not grow
 * with its size (videos). Anything short of a complete, accepted body leaves no file behind.
 */
export async function writeCapped(body: Readable, file: string, options: CappedReadOptions): Promise<CappedWrite> {
  const handle = await open(file, 'wx', 0o600);
  let complete = false;
  try {
    const drained = await drain(body, options, async (chunk) => {
      for (let offset = 0; offset < chunk.length;) offset += (await handle.write(chunk, offset)).bytesWritten;
    });
    if (drained.kind !== 'ok') return drained;
    complete = true;
    return { kind: 'ok', bytes: drained.received };
  } finally {
    await handle.close();
    if (!complete) await rm(file, { force: true });
  }
}
