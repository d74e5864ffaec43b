import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DownloadError, downloadCapped } from '../../../src/lib/download.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('downloadCapped against a loopback HTTP server', () => {
  let server: Server;
  let base: string;
  let handler: Handler;
  /** Resolves when the server sees the client's connection close. */
  let clientGone: Promise<void>;

  beforeEach(async () => {
    server = createServer((req, res) => {
      clientGone = once(res, 'close').then(() => undefined);
      handler(req, res);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('GIVEN a declared length over the cap THEN it is refused from the headers, before any byte is sent', async () => {
    handler = (_, res) => {
      // Headers only, never a body: a reader that waited for one would time out instead.
      res.writeHead(200, { 'content-length': '5000', 'content-type': 'video/mp4' });
      res.flushHeaders();
    };
    const result = await downloadCapped(`${base}/big.mp4`, 1000, { timeoutMs: 5_000 });

    expect(result).toEqual({ kind: 'too_large' });
    await clientGone;
  });

  it('GIVEN a body with no declared length that grows past the cap THEN it is cut off', async () => {
    let written = 0;
    handler = (_, res) => {
      res.writeHead(200, { 'content-type': 'video/mp4' });
      const more = () => {
        if (res.destroyed) return;
        written += 256;
        res.write(Buffer.alloc(256));
        setImmediate(more);
      };
      more();
    };
    const result = await downloadCapped(`${base}/endless.mp4`, 1000, { timeoutMs: 5_000 });

    expect(result).toEqual({ kind: 'too_large' });
    await clientGone;
    expect(written).toBeGreaterThan(1000);
  });

  it('GIVEN a declared length within the cap THEN the chunks land in one buffer of exactly that length', async () => {
    const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    handler = (_, res) => {
      res.writeHead(200, { 'content-length': String(body.length), 'content-type': 'video/mp4' });
      res.write(body.subarray(0, 1000));
      setImmediate(() => res.end(body.subarray(1000)));
    };
    const result = await downloadCapped(`${base}/exact.mp4`, 3000);

    expect(result.kind).toBe('ok');
    if (result.kind !== 'ok') return;
    expect(result.data.length).toBe(3000);
    expect(result.data.equals(body)).toBe(true);
    expect(result.contentType).toBe('video/mp4');
  });

  it('GIVEN no declared length and a body within the cap THEN the chunks are joined', async () => {
    handler = (_, res) => {
      res.writeHead(200);
      res.write('abc');
      setImmediate(() => res.end('def'));
    };
    const result = await downloadCapped(`${base}/chunked`, 1000);

    expect(result).toMatchObject({ kind: 'ok', contentType: null });
    if (result.kind === 'ok') expect(result.data.toString()).toBe('abcdef');
  });

  it('GIVEN a body shorter than its declared length THEN it fails, and the failure may pass (transient)', async () => {
    handler = (_, res) => {
      res.writeHead(200, { 'content-length': '2000' });
      res.write(Buffer.alloc(500));
      setImmediate(() => res.socket?.destroy());
    };
    const error = await downloadCapped(`${base}/short.mp4`, 5000).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DownloadError);
    expect(error).toMatchObject({ status: null, transient: true });
  });

  it.each([
    [404, false],
    [500, true],
    [429, true],
  ])('GIVEN an HTTP %i THEN it fails, transient: %s', async (status, transient) => {
    handler = (_, res) => {
      res.writeHead(status).end('no video here');
    };
    const error = await downloadCapped(`${base}/answer.mp4`, 5000).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DownloadError);
    expect(error).toMatchObject({ status, transient });
  });
});
