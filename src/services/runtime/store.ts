import Keyv from 'keyv';
import type { StoreLocation } from '../../config.js';
import { withDeadline } from '../../lib/deadline.js';
import type { BusConnector } from './bus.js';
import type { AtomicLeases } from './lease.js';

export const NAMESPACES = ['jobs', 'quota', 'guilds', 'members', 'leases'] as const;
export type Namespace = (typeof NAMESPACES)[number];

/** A Redis namespace's connection, for atomic Lua scripts over its keys (`<namespace>::<key>`). */
export interface ScriptHost {
  readonly namespace: string;
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

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
  /** Redis: a namespace's connection for scripts; null on SQLite (one process, in-process locks). */
  readonly scripts: ((namespace: Namespace) => ScriptHost) | null;
  /** More connections to the store's Redis, for the bus shared by the bot's processes; null on SQLite. */
  readonly connectBus: BusConnector | null;
  /** For /healthz: true when the store answered within the store timeout; never rejects, never hangs. */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/** What one kind of store adds under the namespaces' Keyvs once its module is loaded. */
export interface Backend {
  readonly ready: Promise<void>;
  readonly atomicLeases: AtomicLeases | null;
  readonly scripts: ((namespace: Namespace) => ScriptHost) | null;
  readonly connectBus: BusConnector | null;
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
 * whatever reads after it sees it. A call made before the adapter module arrived waits for it.
 */
function bounded(keyv: Keyv, ms: number, attached: { done: boolean; promise: Promise<unknown> }): Keyv {
  return new Proxy(keyv, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (!STORE_CALLS.has(property) || typeof value !== 'function') return value;
      const call = value as (...args: unknown[]) => Promise<unknown>;
      return (...args: unknown[]) =>
        withDeadline(
          attached.done ? call.apply(target, args) : attached.promise.then(() => call.apply(target, args)),
          ms,
        );
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

/**
 * One adapter instance per namespace: a shared adapter lets namespaces leak into each other's
 * iterator() and clear() (DESIGN §8). Only the adapter module the location needs is loaded (a SQLite
 * bot never loads node-redis); the Keyvs exist at once and their calls wait for it.
 */
export function openStores(location: StoreLocation, options: StoreOptions = {}): Stores {
  const timeoutMs = options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  const redis = location.kind === 'redis';
  const keyv = (namespace: Namespace) =>
    new Keyv({
      namespace: redis && location.prefix !== '' ? `${location.prefix}:${namespace}` : namespace,
      // The Redis adapter prefixes keys itself; Keyv adding its own would double them and break iteration.
      useKeyPrefix: !redis,
      // A swallowed store error would read as an empty ledger and grant quota; let it surface.
      throwOnErrors: true,
      ...PLAIN_JSON,
    });
  const keyvs = {
    jobs: keyv('jobs'),
    quota: keyv('quota'),
    guilds: keyv('guilds'),
    members: keyv('members'),
    leases: keyv('leases'),
  };
  const backend: Promise<Backend> = redis
    ? import('./redisStores.js').then((m) => m.openRedis(location.url, keyvs, timeoutMs))
    : import('./sqliteStores.js').then((m) => m.openSqlite(location.file, keyvs));
  const attached = { done: false, promise: backend };
  void backend.then(
    () => (attached.done = true),
    () => undefined,
  );
  const stores = {
    jobs: bounded(keyvs.jobs, timeoutMs, attached),
    quota: bounded(keyvs.quota, timeoutMs, attached),
    guilds: bounded(keyvs.guilds, timeoutMs, attached),
    members: bounded(keyvs.members, timeoutMs, attached),
    leases: bounded(keyvs.leases, timeoutMs, attached),
  };
  const ready = backend.then((b) => b.ready);
  // Whoever awaits `ready` sees the failure; a Stores opened and closed unawaited must not crash the process.
  ready.catch(() => undefined);
  const leases = async () => {
    const atomic = (await backend).atomicLeases;
    if (!atomic) throw new Error('atomic leases need Redis');
    return atomic;
  };
  const scriptsOf = (namespace: Namespace): ScriptHost => {
    const host = backend.then((b) => {
      if (!b.scripts) throw new Error('scripts need Redis');
      return b.scripts(namespace);
    });
    return {
      namespace: keyvs[namespace].namespace ?? namespace,
      evalSha: async (sha1, args) => (await host).evalSha(sha1, args),
      eval: async (script, args) => (await host).eval(script, args),
    };
  };
  return {
    ...stores,
    ready,
    atomicLeases: redis
      ? {
          swap: async (key, expectedId, next, ttlMs) => (await leases()).swap(key, expectedId, next, ttlMs),
          remove: async (key, id) => (await leases()).remove(key, id),
        }
      : null,
    scripts: redis ? scriptsOf : null,
    connectBus: redis
      ? async (onError) => {
          const connect = (await backend).connectBus;
          if (!connect) throw new Error('the bus needs Redis');
          return connect(onError);
        }
      : null,
    healthy: probe(stores.leases, timeoutMs),
    async close() {
      await (await backend.catch(() => null))?.close();
    },
  };
}
