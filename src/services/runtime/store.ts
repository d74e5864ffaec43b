import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import KeyvRedis, { createClient, defaultReconnectStrategy } from '@keyv/redis';
import KeyvSqlite from '@keyv/sqlite';
import Keyv from 'keyv';
import type { StoreLocation } from '../../config.js';
import { withDeadline } from '../../lib/deadline.js';
import type { BusConnector } from './bus.js';
import type { AtomicLeases } from './lease.js';
import { RedisLeases } from './redisLeases.js';

export const NAMESPACES = ['jobs', 'quota', 'guilds', 'members', 'leases'] as const;
export type Namespace = (typeof NAMESPACES)[number];

export interface Stores {
  readonly jobs: Keyv;
  readonly quota: Keyv;
  readonly guilds: Keyv;
  readonly members: Keyv;
  readonly leases: Keyv;
  /** Settles once every connection is tuned; nothing should be read or written before it. */
  readonly ready: Promise<void>;
  /** Atomic lease writes where the store has them (Redis); null on SQLite. */
  readonly atomicLeases: AtomicLeases | null;
  /** More connections to the store's Redis, for the bus shared by the bot's processes; null on SQLite. */
  readonly connectBus: BusConnector | null;
  /** For /healthz: true when the store answered within the store timeout; never rejects, never hangs. */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** STORE_TIMEOUT_MS: each Redis command, and the health probe, gives up after this. */
  readonly timeoutMs?: number;
}

export const DEFAULT_STORE_TIMEOUT_MS = 2_000;

/** The Keyv calls that reach the store (iteration is left alone: only the start-up reconcile uses it). */
const STORE_CALLS: ReadonlySet<string | symbol> = new Set([
  'get',
  'getMany',
  'set',
  'setMany',
  'delete',
  'deleteMany',
  'has',
  'hasMany',
  'clear',
]);

/**
 * The same Keyv, each call given up after `ms` (DESIGN §3 STORE_TIMEOUT_MS): neither SQLite nor
 * node-redis bounds a call that has reached the store (a command written to a stalled Redis waits for
 * good). A call given up on may still complete; the store applies calls of one connection in order, so
 * whatever reads after it sees it.
 */
function bounded(keyv: Keyv, ms: number): Keyv {
  return new Proxy(keyv, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (!STORE_CALLS.has(property) || typeof value !== 'function') return value;
      const call = value as (...args: unknown[]) => Promise<unknown>;
      return (...args: unknown[]) => withDeadline(call.apply(target, args), ms);
    },
  });
}

function probe(leases: Keyv, timeoutMs: number): () => Promise<boolean> {
  return () =>
    withDeadline(leases.has('healthz'), timeoutMs).then(
      () => true,
      () => false,
    );
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
export function openStores(location: StoreLocation, options: StoreOptions = {}): Stores {
  const timeoutMs = options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  if (location.kind === 'redis') return openRedisStores(location, timeoutMs);
  prepareSqliteFile(location.file);
  const reopen = () => new KeyvSqlite({ uri: `sqlite://${location.file}`, busyTimeout: 10_000 });
  const slots: { keyv: Keyv; adapter: KeyvSqlite }[] = [];
  const open = (namespace: Namespace): Keyv => {
    const adapter = reopen();
    // A swallowed store error would read as an empty ledger and grant quota; let it surface.
    const keyv = new Keyv({ store: adapter, namespace, throwOnErrors: true, ...PLAIN_JSON });
    slots.push({ keyv, adapter });
    return bounded(keyv, timeoutMs);
  };
  const stores = {
    jobs: open('jobs'),
    quota: open('quota'),
    guilds: open('guilds'),
    members: open('members'),
    leases: open('leases'),
  };
  return {
    ...stores,
    ready: settle(slots, reopen),
    atomicLeases: null,
    connectBus: null,
    healthy: probe(stores.leases, timeoutMs),
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
function openRedisStores(location: Extract<StoreLocation, { kind: 'redis' }>, timeoutMs: number): Stores {
  const adapters: KeyvRedis<unknown>[] = [];
  // No offline queue: while Redis is away a command fails at once (the caller retries or tells the
  // member) instead of waiting for the reconnection; a stalled Redis is bounded by `bounded`.
  const newClient = () =>
    createClient({
      url: location.url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: defaultReconnectStrategy },
    });
  const open = (namespace: Namespace) => {
    const name = location.prefix === '' ? namespace : `${location.prefix}:${namespace}`;
    const client = newClient();
    const adapter = new KeyvRedis<unknown>(client, {
      namespace: name,
      throwOnErrors: true,
      throwOnConnectError: true,
      connectionTimeout: 10_000,
    });
    adapters.push(adapter);
    // The adapter prefixes keys itself; Keyv adding its own would double them and break iteration.
    const keyv = new Keyv({ store: adapter, namespace: name, useKeyPrefix: false, throwOnErrors: true, ...PLAIN_JSON });
    return { keyv: bounded(keyv, timeoutMs), client, adapter };
  };
  const leases = open('leases');
  const stores = {
    jobs: open('jobs').keyv,
    quota: open('quota').keyv,
    guilds: open('guilds').keyv,
    members: open('members').keyv,
    leases: leases.keyv,
  };
  // Connect every namespace now, so an unreachable Redis fails the start instead of the first command.
  const ready = Promise.all(adapters.map((a) => a.getClient())).then(() => undefined);
  // Whoever awaits `ready` sees the failure; a Stores opened and closed unawaited must not crash the process.
  ready.catch(() => undefined);
  return {
    ...stores,
    ready,
    atomicLeases: new RedisLeases(
      async () => {
        await leases.adapter.getClient();
        return leases.client;
      },
      (key) => leases.adapter.createKeyPrefix(key, leases.adapter.namespace),
      timeoutMs,
    ),
    async connectBus(onError) {
      const client = newClient();
      client.on('error', onError);
      await client.connect();
      return client;
    },
    healthy: probe(stores.leases, timeoutMs),
    async close() {
      await Promise.all(adapters.map((a) => a.disconnect()));
    },
  };
}
