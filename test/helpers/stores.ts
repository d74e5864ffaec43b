import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { StoreLocation } from '../../src/config.js';
import { deletePrefix, redisUrl, uniquePrefix } from './redis.js';

/** A durable store the production code runs on, for tests parameterised over both (describe.each). */
export interface StoreBackend {
  readonly name: 'SQLite' | 'Redis';
  /** A fresh, empty location for one test. */
  fresh(): Promise<StoreLocation>;
  /** Removes what the test left there. */
  remove(location: StoreLocation): Promise<void>;
}

export const sqliteBackend: StoreBackend = {
  name: 'SQLite',
  async fresh() {
    const dir = await mkdtemp(path.join(tmpdir(), 'veo-store-'));
    return { kind: 'sqlite', file: path.join(dir, 'bot.sqlite') };
  },
  async remove(location) {
    if (location.kind === 'sqlite') await rm(path.dirname(location.file), { recursive: true, force: true });
  },
};

export const redisBackend: StoreBackend = {
  name: 'Redis',
  async fresh() {
    return { kind: 'redis', url: await redisUrl(), prefix: uniquePrefix() };
  },
  async remove(location) {
    if (location.kind === 'redis') await deletePrefix(location.url, location.prefix);
  },
};

export const durableBackends: readonly StoreBackend[] = [sqliteBackend, redisBackend];
