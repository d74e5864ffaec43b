import type { Readable } from 'node:stream';

export type DownloadResult =
  { readonly kind: 'ok'; readonly data: Buffer; readonly contentType: string | null } | { readonly kind: 'too_large' };

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

export type CappedRead =
  | { readonly kind: 'ok'; readonly data: Buffer }
  | { readonly kind: 'too_large' }
  /** The first bytes are not what the caller expects (an HTML page served as video/mp4). */
  | { readonly kind: 'unexpected' };

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

/**
 * Reads a body into one Buffer without ever holding more than `capBytes`: a declared length over the cap
 * is refused before reading, a body that grows past it is cut off. Errors of the stream are thrown as they are.
 */
export async function readCapped(body: Readable, options: CappedReadOptions): Promise<CappedRead> {
  const { capBytes, declaredBytes, head } = options;
  if (declaredBytes !== null && declaredBytes > capBytes) {
    body.destroy();
    return { kind: 'too_large' };
  }
  // With a declared length the bytes go straight into one buffer: no chunk list, no second copy to join.
  const sized = declaredBytes === null ? null : Buffer.allocUnsafe(declaredBytes);
  const chunks: Buffer[] = [];
  let received = 0;
  let headJudged = head === undefined;
  const firstBytes = (n: number) => (sized ?? Buffer.concat(chunks, received)).subarray(0, Math.min(n, received));
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    if (received + buffer.length > (sized?.length ?? capBytes)) {
      body.destroy();
      if (sized) throw new DownloadError('body longer than its declared length', null);
      return { kind: 'too_large' };
    }
    if (sized) buffer.copy(sized, received);
    else chunks.push(buffer);
    received += buffer.length;
    if (!headJudged && head && received >= head.bytes) {
      headJudged = true;
      if (!head.accept(firstBytes(head.bytes))) {
        body.destroy();
        return { kind: 'unexpected' };
      }
    }
  }
  if (sized && received !== sized.length) throw new DownloadError('body ended before its declared length', null);
  const data = sized ?? Buffer.concat(chunks, received);
  if (!headJudged && head && !head.accept(data)) return { kind: 'unexpected' };
  return { kind: 'ok', data };
}
