import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import KeyvRedis from '@keyv/redis';
import KeyvSqlite from '@keyv/sqlite';
import Keyv from 'keyv';
import type { StoreLocation } from '../../config.js';

export const NAMESPACES = ['jobs', 'quota', 'guilds', 'leases'] as const;
export type Namespace = (typeof NAMESPACES)[number];

export interface Stores {
  readonly jobs: Keyv;
  readonly quota: Keyv;
  readonly guilds: Keyv;
  readonly leases: Keyv;
  /** Settles once every connection is tuned; nothing should be read or written before it. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Every value is plain JSON; Keyv's default serializer also walks each value for Buffers and was the
 * largest single cost of a job step in the benchmark profile.
 */
const PLAIN_JSON = {
  serialize: (data: unknown) => JSON.stringify(data),
  deserialize: (text: string) => JSON.parse(text) as never,
};

/** Creates the file owner-only before SQLite opens it, so job records are never world-readable. */
function prepareSqliteFile(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
}

/**
 * Four connections creating the table of a new file at once can deadlock in SQLite's rollback journal
 * (one gets SQLITE_BUSY without waiting), and @keyv/sqlite never reconnects. Each connection is checked
 * in turn and a failed one replaced, now that the others no longer compete.
 *
 * Then write-ahead logging with synchronous=NORMAL: a commit survives a crash of the process (kill -9),
 * only an OS crash may lose the last few; the default (fsync per commit) made every job step wait for
 * the disk and queued interaction acknowledgements behind them.
 */
async function settle(slots: readonly { keyv: Keyv; adapter: KeyvSqlite }[], reopen: () => KeyvSqlite): Promise<void> {
  const probes = slots.map((slot) =>
    slot.adapter.query('SELECT 1').then(
      () => true,
      () => false,
    ),
  );
  for (const [index, slot] of slots.entries()) {
    if (await probes[index]) continue;
    const replacement = reopen();
    await replacement.query('SELECT 1');
    slot.keyv.store = replacement;
    slot.adapter = replacement;
  }
  const [first] = slots;
  if (!first) return;
  await first.adapter.query('PRAGMA journal_mode=WAL');
  await Promise.all(slots.map((slot) => slot.adapter.query('PRAGMA synchronous=NORMAL')));
}

/**
 * One adapter instance per namespace: a shared adapter lets namespaces leak into each other's
 * iterator() and clear() (DESIGN §8).
 */
export function openStores(location: StoreLocation): Stores {
  if (location.kind === 'redis') return openRedisStores(location);
  prepareSqliteFile(location.file);
  const reopen = () => new KeyvSqlite({ uri: `sqlite://${location.file}`, busyTimeout: 10_000 });
  const slots: { keyv: Keyv; adapter: KeyvSqlite }[] = [];
  const open = (namespace: Namespace): Keyv => {
    const adapter = reopen();
    // A swallowed store error would read as an empty ledger and grant quota; let it surface.
    const keyv = new Keyv({ store: adapter, namespace, throwOnErrors: true, ...PLAIN_JSON });
    slots.push({ keyv, adapter });
    return keyv;
  };
  const stores = { jobs: open('jobs'), quota: open('quota'), guilds: open('guilds'), leases: open('leases') };
  return {
    ...stores,
    ready: settle(slots, reopen),
    async close() {
      await Promise.all(slots.map((slot) => slot.adapter.disconnect()));
    },
  };
}

/**
 * Redis (`@keyv/redis`): each namespace its own adapter and connection, keys `<namespace>::<key>` (or
 * `<prefix>:<namespace>::<key>`), so iterator() of one namespace never sees another's keys. Every
 * command is atomic on its own but Keyv does no compare-and-set: a value that two processes
 * read-modify-write can lose a write, which is why each guild's values belong to one shard (DESIGN §8).
 */
function openRedisStores(location: Extract<StoreLocation, { kind: 'redis' }>): Stores {
  const adapters: KeyvRedis<unknown>[] = [];
  const open = (namespace: Namespace): Keyv => {
    const name = location.prefix === '' ? namespace : `${location.prefix}:${namespace}`;
    const adapter = new KeyvRedis<unknown>(location.url, {
      namespace: name,
      throwOnErrors: true,
      throwOnConnectError: true,
      connectionTimeout: 10_000,
    });
    adapters.push(adapter);
    // The adapter prefixes keys itself; Keyv adding its own would double them and break iteration.
    return new Keyv({ store: adapter, namespace: name, useKeyPrefix: false, throwOnErrors: true, ...PLAIN_JSON });
  };
  const stores = { jobs: open('jobs'), quota: open('quota'), guilds: open('guilds'), leases: open('leases') };
  // Connect every namespace now, so an unreachable Redis fails the start instead of the first command.
  const ready = Promise.all(adapters.map((a) => a.getClient())).then(() => undefined);
  // Whoever awaits `ready` sees the failure; a Stores opened and closed unawaited must not crash the process.
  ready.catch(() => undefined);
  return {
    ...stores,
    ready,
    async close() {
      await Promise.all(adapters.map((a) => a.disconnect()));
    },
  };
}
