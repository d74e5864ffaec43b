import { request, type Dispatcher } from 'undici';
import { USER_AGENT } from '../version.js';

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

export interface DownloadOptions {
  readonly dispatcher?: Dispatcher | undefined;
  readonly timeoutMs?: number;
}

/**
 * Fetches a URL into one Buffer without ever holding more than `capBytes`: a declared length over the
 * cap is refused before reading, and a body that grows past it is cut off.
 */
export async function downloadCapped(
  url: string,
  capBytes: number,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? 120_000);
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(url, {
      method: 'GET',
      headers: { 'user-agent': USER_AGENT },
      signal,
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
  } catch (error) {
    throw new DownloadError(`download failed: ${describe(error)}`, null, { cause: error });
  }
  const { statusCode, headers, body } = response;
  if (statusCode < 200 || statusCode >= 300) {
    await body.dump();
    throw new DownloadError(`download answered HTTP ${statusCode}`, statusCode);
  }
  const declared = Number(headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > capBytes) {
    body.destroy();
    return { kind: 'too_large' };
  }
  // With a declared length the bytes go straight into one buffer: no chunk list, no second copy to join.
  const sized = Number.isFinite(declared) ? Buffer.allocUnsafe(declared) : null;
  const chunks: Buffer[] = [];
  let received = 0;
  try {
    for await (const chunk of body) {
      const buffer = chunk as Buffer;
      if (received + buffer.length > capBytes || (sized && received + buffer.length > sized.length)) {
        body.destroy();
        return { kind: 'too_large' };
      }
      if (sized) buffer.copy(sized, received);
      else chunks.push(buffer);
      received += buffer.length;
    }
  } catch (error) {
    throw new DownloadError(`download interrupted: ${describe(error)}`, null, { cause: error });
  }
  if (sized && received !== sized.length) throw new DownloadError('download ended before its declared length', null);
  const type = headers['content-type'];
  const data = sized ?? Buffer.concat(chunks, received);
  return { kind: 'ok', data, contentType: typeof type === 'string' ? type : null };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown error';
}
