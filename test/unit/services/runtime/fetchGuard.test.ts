import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, MockAgent } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DownloadError } from '../../../../src/lib/download.js';
import { isPublicAddress } from '../../../../src/services/runtime/addresses.js';
import {
  MediaFetchGuard,
  MediaRefusedError,
  type FetchGuardOptions,
  type ResolvedAddress,
} from '../../../../src/services/runtime/fetchGuard.js';
import { fakeMp4 } from '../../../e2e/helpers/loopbackKie.js';
import { makePng } from '../../../helpers/png.js';
import { startLoopbackServer, streamBody, type LoopbackServer } from '../../../helpers/loopbackServer.js';

const MiB = 1024 * 1024;

async function refusal(promise: Promise<unknown>): Promise<MediaRefusedError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MediaRefusedError);
  return error as MediaRefusedError;
}

describe('isPublicAddress', () => {
  it.each([
    ['8.8.8.8', true],
    ['2606:4700:4700::1111', true],
    ['::ffff:8.8.8.8', true],
    ['127.0.0.1', false],
    ['169.254.169.254', false],
    ['10.0.0.5', false],
    ['172.16.0.1', false],
    ['192.168.1.1', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['224.0.0.1', false],
    ['::1', false],
    ['::', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:7f00:1', false],
    ['fe80::1', false],
    ['fd00::1', false],
    ['64:ff9b::a9fe:a9fe', false],
    ['2002:a9fe:a9fe::1', false],
    ['not-an-address', false],
  ])('%s -> %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});

describe('MediaFetchGuard against loopback servers (what crosses the wire)', () => {
  let agent: Agent;
  let internal: LoopbackServer;
  let cdn: LoopbackServer;

  beforeAll(async () => {
    agent = new Agent();
    internal = await startLoopbackServer((_, res) => res.end('{"AccessKeyId":"ASIAINTERNALONLY"}'));
    cdn = await startLoopbackServer();
  });

  afterAll(async () => {
    await internal.close();
    await cdn.close();
    await agent.close();
  });

  beforeEach(() => {
    internal.connections = 0;
    internal.requests.length = 0;
    cdn.requests.length = 0;
  });

  function guard(options: Partial<FetchGuardOptions> = {}): MediaFetchGuard {
    return new MediaFetchGuard({
      dispatcher: agent,
      trustedOrigins: new Set([cdn.origin]),
      maxBytes: { video: 100 * MiB, image: 10 * MiB },
      timeoutMs: 10_000,
      ...options,
    });
  }

  it('GIVEN URLs to an internal server outside TRUSTED_MEDIA_ORIGINS THEN each is refused and that server sees no connection', async () => {
    const port = internal.port;
    const refused = [
      [`http://127.0.0.1:${port}/latest/meta-data/iam/security-credentials/role`, 'not_https'],
      [`https://127.0.0.1:${port}/latest/meta-data/`, 'not_public'],
      [`https://localhost:${port}/latest/meta-data/`, 'not_public'],
      [`https://[::ffff:127.0.0.1]:${port}/`, 'not_public'],
      [`https://2130706433:${port}/`, 'not_public'],
      ['file:///etc/passwd', 'not_https'],
      ['gopher://127.0.0.1/', 'not_https'],
      ['not a url', 'bad_url'],
      [`https://user:pass@127.0.0.1:${port}/`, 'bad_url'],
    ] as const;
    for (const [url, reason] of refused) {
      expect((await refusal(guard().fetch(url, 'video', MiB))).reason).toBe(reason);
    }
    expect(internal.connections).toBe(0);
  });

  it('GIVEN a host name that resolves to a public and a private address THEN it is refused before any connection', async () => {
    const resolve = (): Promise<ResolvedAddress[]> =>
      Promise.resolve([
        { address: '93.184.216.34', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ]);
    const error = await refusal(guard({ resolve }).fetch('https://cdn.example/v.mp4', 'video', MiB));
    expect(error).toMatchObject({ reason: 'not_public', host: 'cdn.example' });
    expect(error.message).not.toContain('v.mp4');
  });

  it('GIVEN a trusted URL that redirects to the internal server THEN the hop is refused and the internal server sees nothing', async () => {
    cdn.handler = (req, res) => {
      const to = req.url === '/plain' ? `${internal.origin}/secret` : `https://127.0.0.1:${internal.port}/secret`;
      res.writeHead(302, { location: to }).end();
    };
    expect((await refusal(guard().fetch(`${cdn.origin}/plain`, 'video', MiB))).reason).toBe('not_https');
    expect((await refusal(guard().fetch(`${cdn.origin}/tls`, 'video', MiB))).reason).toBe('not_public');
    expect(cdn.requests).toEqual(['GET /plain', 'GET /tls']);
    expect(internal.connections).toBe(0);
  });

  it('GIVEN redirects THEN three are followed (each checked) and a fourth is refused', async () => {
    const mp4 = fakeMp4(4096);
    cdn.handler = (req, res) => {
      const n = Number(req.url?.slice(1));
      if (n > 0) res.writeHead(307, { location: `/${n - 1}` }).end();
      else res.writeHead(200, { 'content-length': mp4.length }).end(mp4);
    };
    const ok = await guard().fetch(`${cdn.origin}/3`, 'video', MiB);
    expect(ok).toMatchObject({ kind: 'ok', contentType: 'video/mp4' });
    expect(cdn.requests).toEqual(['GET /3', 'GET /2', 'GET /1', 'GET /0']);

    cdn.requests.length = 0;
    expect((await refusal(guard().fetch(`${cdn.origin}/4`, 'video', MiB))).reason).toBe('too_many_redirects');
    expect(cdn.requests).toEqual(['GET /4', 'GET /3', 'GET /2', 'GET /1']);
  });

  it('GIVEN HTML served as video/mp4 THEN it is refused from its first bytes, the rest never read', async () => {
    let written: Promise<number> = Promise.resolve(0);
    cdn.handler = (_, res) => {
      written = streamBody(res, 256 * MiB, Buffer.from('<!doctype html><html><body>'));
    };
    const error = await refusal(guard().fetch(`${cdn.origin}/video.mp4`, 'video', 512 * MiB));
    expect(error.reason).toBe('not_media');
    expect(await written).toBeLessThan(32 * MiB);
  });

  it('GIVEN images THEN their magic bytes decide: a PNG passes typed by its bytes, text does not', async () => {
    const png = makePng(2, 2, [1, 2, 3]);
    cdn.handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' }).end(req.url === '/a.png' ? png : 'GIF89a, not really');
    };
    expect(await guard().fetch(`${cdn.origin}/a.png`, 'image', MiB)).toEqual({
      kind: 'ok',
      data: png,
      contentType: 'image/png',
    });
    expect((await refusal(guard().fetch(`${cdn.origin}/b.png`, 'image', MiB))).reason).toBe('not_media');
  });

  describe('caps', () => {
    it('GIVEN a declared length over MAX_VIDEO_BYTES THEN too_large from the headers, before any body byte is sent', async () => {
      let closed: Promise<boolean> = Promise.resolve(false);
      cdn.handler = (_, res) => {
        res.writeHead(200, { 'content-length': String(5000), 'content-type': 'video/mp4' });
        res.flushHeaders();
        closed = new Promise((resolve) => res.once('close', () => resolve(!res.writableFinished)));
      };
      const capped = guard({ maxBytes: { video: 1000, image: 1000 } });
      // Discord would take far more: the operator's cap wins.
      expect(await capped.fetch(`${cdn.origin}/big.mp4`, 'video', 500 * MiB)).toEqual({ kind: 'too_large' });
      expect(await closed).toBe(true);
    });

    it('GIVEN a body without a length that grows past the cap THEN it is cut off, far short of what the server had', async () => {
      let written: Promise<number> = Promise.resolve(0);
      cdn.handler = (_, res) => {
        written = streamBody(res, 256 * MiB, fakeMp4(64));
      };
      const capped = guard({ maxBytes: { video: MiB, image: MiB } });
      expect(await capped.fetch(`${cdn.origin}/endless.mp4`, 'video', 100 * MiB)).toEqual({ kind: 'too_large' });
      expect(await written).toBeLessThan(32 * MiB);
    });

    it('GIVEN a declared length within the cap THEN the bytes land in one buffer of exactly that length', async () => {
      const body = fakeMp4(3000);
      cdn.handler = (_, res) => {
        res.writeHead(200, { 'content-length': String(body.length) });
        res.write(body.subarray(0, 1000));
        setImmediate(() => res.end(body.subarray(1000)));
      };
      const result = await guard().fetch(`${cdn.origin}/exact.mp4`, 'video', 3000);
      expect(result.kind === 'ok' && result.data.equals(body)).toBe(true);
    });

    it('GIVEN a body shorter than its declared length THEN a transient DownloadError', async () => {
      cdn.handler = (_, res) => {
        res.writeHead(200, { 'content-length': '20000' });
        res.write(fakeMp4(500));
        setImmediate(() => res.socket?.destroy());
      };
      const error = await guard()
        .fetch(`${cdn.origin}/short.mp4`, 'video', MiB)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DownloadError);
      expect(error).toMatchObject({ status: null, transient: true });
    });

    it.each([
      [404, false],
      [500, true],
      [429, true],
    ])('GIVEN an HTTP %i THEN a DownloadError, transient: %s', async (status, transient) => {
      cdn.handler = (_, res) => {
        res.writeHead(status).end('no video here');
      };
      const error = await guard()
        .fetch(`${cdn.origin}/answer.mp4`, 'video', MiB)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DownloadError);
      expect(error).toMatchObject({ status, transient });
    });
  });
  describe('download into a file (videos: memory does not grow with the size)', () => {
    let dir: string;

    beforeEach(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'veo-guard-'));
    });

    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const left = async () => readdir(dir);

    it('GIVEN an mp4 THEN exactly its bytes are in a new owner-only file', async () => {
      const mp4 = fakeMp4(70_000);
      cdn.handler = (_, res) => res.writeHead(200).end(mp4);
      const file = path.join(dir, 'a.mp4');
      expect(await guard().download(`${cdn.origin}/a.mp4`, 'video', MiB, file)).toEqual({
        kind: 'ok',
        file,
        bytes: mp4.length,
      });
      expect((await readFile(file)).equals(mp4)).toBe(true);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    });

    it('GIVEN HTML served as video/mp4, a body past the cap, a declared length past it, a cut connection THEN no file is left', async () => {
      const file = path.join(dir, 'v.mp4');
      cdn.handler = (_, res) => void streamBody(res, 64 * MiB, Buffer.from('<!doctype html><html>'));
      expect((await refusal(guard().download(`${cdn.origin}/html`, 'video', 128 * MiB, file))).reason).toBe(
        'not_media',
      );
      cdn.handler = (_, res) => void streamBody(res, 64 * MiB, fakeMp4(64));
      expect(await guard().download(`${cdn.origin}/long`, 'video', MiB, file)).toEqual({ kind: 'too_large' });
      cdn.handler = (_, res) => res.writeHead(200, { 'content-length': String(2 * MiB) }).end();
      expect(await guard().download(`${cdn.origin}/declared`, 'video', MiB, file)).toEqual({ kind: 'too_large' });
      cdn.handler = (_, res) => {
        res.writeHead(200, { 'content-length': '20000' });
        res.write(fakeMp4(500));
        setImmediate(() => res.socket?.destroy());
      };
      const error = await guard()
        .download(`${cdn.origin}/cut`, 'video', MiB, file)
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ status: null, transient: true });
      expect(await left()).toEqual([]);
    });

    it('GIVEN a 256 MB video THEN it reaches the file while RSS grows by far less than its size', async () => {
      cdn.handler = (_, res) => void streamBody(res, 256 * MiB, fakeMp4(64));
      const before = process.memoryUsage.rss();
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
      const file = path.join(dir, 'big.mp4');
      const large = guard({ maxBytes: { video: 512 * MiB, image: MiB } });
      const result = await large.download(`${cdn.origin}/big`, 'video', 512 * MiB, file);
      clearInterval(sampler);
      expect(result).toMatchObject({ kind: 'ok', bytes: (await stat(file)).size });
      expect((peak - before) / MiB).toBeLessThan(96);
    });
  });
});

describe('MediaFetchGuard connects to the address it checked (undici MockAgent, no network)', () => {
  let mock: MockAgent;

  beforeEach(() => {
    mock = new MockAgent();
    mock.disableNetConnect();
  });

  afterEach(async () => {
    mock.assertNoPendingInterceptors();
    await mock.close();
  });

  it('GIVEN a name whose second DNS answer would be private (rebinding) THEN the request goes to the first, checked, address', async () => {
    const answers: Record<string, string[]> = {
      'media.example': ['93.184.216.34', '127.0.0.1'],
      'cdn.example': ['2606:4700::6810:84e5', '169.254.169.254'],
    };
    const asked: string[] = [];
    const resolve = (hostname: string): Promise<ResolvedAddress[]> => {
      asked.push(hostname);
      const address = answers[hostname]?.shift() ?? '127.0.0.1';
      return Promise.resolve([{ address, family: address.includes(':') ? 6 : 4 }]);
    };
    const mp4 = fakeMp4(2048);
    mock
      .get('https://93.184.216.34')
      .intercept({ path: '/v.mp4?sig=1', method: 'GET', headers: { host: 'media.example' } })
      .reply(302, '', { headers: { location: 'https://cdn.example:8443/w.mp4' } });
    mock
      .get('https://[2606:4700::6810:84e5]:8443')
      .intercept({ path: '/w.mp4', method: 'GET', headers: { host: 'cdn.example:8443' } })
      .reply(200, mp4, { headers: { 'content-length': String(mp4.length) } });
    const guard = new MediaFetchGuard({
      dispatcher: mock,
      trustedOrigins: new Set(),
      maxBytes: { video: MiB, image: MiB },
      resolve,
    });

    const result = await guard.fetch('https://media.example/v.mp4?sig=1', 'video', MiB);
    expect(result).toMatchObject({ kind: 'ok', contentType: 'video/mp4' });
    // One lookup per hop: nothing resolves the name again between the check and the connection.
    expect(asked).toEqual(['media.example', 'cdn.example']);
  });

  it('GIVEN mayLink THEN only https and trusted origins may be shown as a link', () => {
    const guard = new MediaFetchGuard({
      dispatcher: mock,
      trustedOrigins: new Set(['http://127.0.0.1:4010']),
      maxBytes: { video: MiB, image: MiB },
    });
    expect(guard.mayLink('https://tempfile.aiquickdraw.com/v.mp4')).toBe(true);
    expect(guard.mayLink('http://127.0.0.1:4010/files/v.mp4')).toBe(true);
    expect(guard.mayLink('http://169.254.169.254/latest')).toBe(false);
    expect(guard.mayLink('javascript:alert(1)')).toBe(false);
  });
});
