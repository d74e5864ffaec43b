/**
 * Vitest global setup: the Redis the Redis-backed tests use. TEST_REDIS_URL names one; without it this
 * starts a throwaway redis-server on a free port (the binary is on PATH: `npm test` first runs
 * test/ensureRedis.ts, which installs it or stops), and stops it after. Either way the tests get a URL,
 * or a reason they must fail (test/helpers/redis.ts): a test that needs Redis never passes or skips without one.
 */
import type { TestProject } from 'vitest/node';
import { redisServerOnPath, startRedisServer, type RedisServer } from './helpers/redisServer.js';

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
  let server: RedisServer;
  try {
    server = await startRedisServer(binary);
  } catch (error) {
    project.provide('redis', {
      url: null,
      error: `could not start ${binary}: ${(error as Error).message}`,
      source: 'none',
    });
    return undefined;
  }
  project.provide('redis', { url: server.url, error: null, source: 'spawned' });
  return () => server.stop();
}
