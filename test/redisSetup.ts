/**
 * Vitest global setup: the Redis the Redis-backed tests use. TEST_REDIS_URL names one; without it this
 * starts a throwaway redis-server on a free port (the binary is on PATH: `npm test` first runs
 * test/ensureRedis.ts, which installs it or stops), and stops it after. Either way the tests get a URL,
 * or a reason they must fail (test/helpers/redis.ts): a test that needs Redis never passes or skips without one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import type { TestProject } from 'vitest/node';
import { redisServerOnPath } from './helpers/redisServer.js';

export interface RedisForTests {
  readonly url: string | null;
  /** Why there is no URL. */
  readonly error: string | null;
  readonly source: 'TEST_REDIS_URL' | 'spawned' | 'none';
}

declare module 'vitest' {
  export interface ProvidedContext {
    redis: RedisForTests;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once redis-server says it is ready (its log line), rejects if it exits first. */
function started(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start within ${timeoutMs} ms: ${output.slice(-400)}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (/ready to accept connections/i.test(output)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${String(code)}: ${output.slice(-400)}`));
    });
  });
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.TEST_REDIS_URL?.trim();
  if (given) {
    project.provide('redis', { url: given, error: null, source: 'TEST_REDIS_URL' });
    return undefined;
  }
  const binary = redisServerOnPath();
  if (binary === null) {
    project.provide('redis', {
      url: null,
      error:
        'TEST_REDIS_URL is not set and redis-server is not on PATH. Install it (apt-get install redis-server; npm test does as root) ' +
        'or set TEST_REDIS_URL=redis://127.0.0.1:<port> to a Redis you can flush keys on.',
      source: 'none',
    });
    return undefined;
  }
  const port = await freePort();
  // No persistence: a throwaway server for this run only.
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await started(child, 10_000);
  } catch (error) {
    child.kill('SIGKILL');
    project.provide('redis', {
      url: null,
      error: `could not start ${binary}: ${(error as Error).message}`,
      source: 'none',
    });
    return undefined;
  }
  project.provide('redis', { url: `redis://127.0.0.1:${String(port)}`, error: null, source: 'spawned' });
  return async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  };
}
