import { randomBytes } from 'node:crypto';
import { createClient } from '@keyv/redis';
import { inject } from 'vitest';

/**
 * The Redis URL for this run (test/redisSetup.ts), checked with a PING. Throws, loudly, when there is
 * none or it does not answer: a test that needs Redis must fail then, never pass or skip.
 */
export async function redisUrl(): Promise<string> {
  const redis = inject('redis');
  if (redis.url === null) throw new Error(`This test needs Redis. ${redis.error ?? ''}`);
  const client = createClient({ url: redis.url, socket: { connectTimeout: 3_000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
  } catch (error) {
    const from = redis.source === 'TEST_REDIS_URL' ? 'TEST_REDIS_URL' : 'the redis-server this run started';
    throw new Error(`This test needs Redis, and ${from} (${redis.url}) does not answer: ${(error as Error).message}`);
  } finally {
    if (client.isOpen) await client.close();
  }
  return redis.url;
}

/** A key prefix of our own (STORE_KEY_PREFIX), so test files sharing one Redis never see each other's keys. */
export function uniquePrefix(): string {
  return `veotest-${randomBytes(6).toString('hex')}`;
}

/** Deletes every key under a prefix (a developer's own Redis should not fill up with test keys). */
export async function deletePrefix(url: string, prefix: string): Promise<number> {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on('error', () => undefined);
  await client.connect();
  let deleted = 0;
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) {
      if (keys.length > 0) deleted += await client.unlink(keys);
    }
  } finally {
    await client.close();
  }
  return deleted;
}
