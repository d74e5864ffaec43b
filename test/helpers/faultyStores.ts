import type Keyv from 'keyv';
import type { Stores } from '../../src/services/runtime/store.js';

/** The errors a real store answers with when it cannot take a command. */
export type StoreFaultKind = 'sqlite_busy' | 'sqlite_full' | 'redis_misconf' | 'redis_readonly';

export const STORE_FAULT_KINDS: readonly StoreFaultKind[] = [
  'sqlite_busy',
  'sqlite_full',
  'redis_misconf',
  'redis_readonly',
];

/** An error shaped as node-sqlite3 and node-redis shape theirs (code and errno, or an ErrorReply). */
export function storeError(kind: StoreFaultKind): Error {
  const sqlite = (code: string, errno: number, message: string) =>
    Object.assign(new Error(`${code}: ${message}`), { code, errno });
  const reply = (message: string) => Object.assign(new Error(message), { name: 'ErrorReply' });
  switch (kind) {
    case 'sqlite_busy':
      return sqlite('SQLITE_BUSY', 5, 'database is locked');
    case 'sqlite_full':
      return sqlite('SQLITE_FULL', 13, 'database or disk is full');
    case 'redis_misconf':
      return reply(
        'MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk.',
      );
    case 'redis_readonly':
      return reply("READONLY You can't write against a read only replica.");
  }
}

export interface StoreOp {
  /** 1-based, over every watched namespace. */
  readonly n: number;
  readonly namespace: string;
  readonly method: string;
  readonly key: string;
  /** The state a job record is being written with, when the op writes one. */
  readonly state: string | null;
  readonly failed: boolean;
}

const METHODS: ReadonlySet<string> = new Set(['get', 'getMany', 'set', 'setMany', 'delete', 'deleteMany', 'has']);

function stateOf(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || !('state' in value)) return null;
  const { state } = value;
  return typeof state === 'string' ? state : null;
}

/**
 * Wraps the stores openStores returned (through BotOverrides.wrapStores, or around a rig's own Keyvs):
 * every call is counted, and the Nth one, or every one while `down`, fails with a real store's error.
 */
export class FaultyStores {
  readonly ops: StoreOp[] = [];
  #count = 0;
  #failAt: { n: number; error: Error } | null = null;
  readonly #rules: { match: (op: Omit<StoreOp, 'n' | 'failed'>) => boolean; error: Error; times: number }[] = [];
  /** While set, every watched call fails with it (an outage). */
  down: Error | null = null;

  /** `watched`: the namespaces counted and failed (the lease's renewals are left alone by default). */
  constructor(private readonly watched: ReadonlySet<string> = new Set(['jobs', 'quota', 'guilds'])) {}

  get count(): number {
    return this.#count;
  }

  /** Fails the call `ahead` calls from now (1: the very next one). */
  failIn(ahead: number, error: Error): void {
    this.#failAt = { n: this.#count + ahead, error };
  }

  /** Fails the next `times` calls that match (by namespace, method, key, the state a record is written with). */
  failWhen(match: (op: Omit<StoreOp, 'n' | 'failed'>) => boolean, error: Error, times = 1): void {
    this.#rules.push({ match, error, times });
  }

  /** Forgets a fault that was armed and never reached. */
  disarm(): void {
    this.#failAt = null;
    this.#rules.splice(0);
  }

  get armed(): boolean {
    return this.#failAt !== null || this.#rules.length > 0;
  }

  wrap = (stores: Stores): Stores => ({
    ...stores,
    jobs: this.keyv('jobs', stores.jobs),
    quota: this.keyv('quota', stores.quota),
    guilds: this.keyv('guilds', stores.guilds),
    members: this.keyv('members', stores.members),
    leases: this.keyv('leases', stores.leases),
    healthy: () => stores.healthy(),
    close: () => stores.close(),
  });

  /** The same Keyv, its calls counted and failed as armed. */
  keyv(namespace: string, keyv: Keyv): Keyv {
    if (!this.watched.has(namespace)) return keyv;
    return new Proxy(keyv, {
      get: (target, property, receiver) => {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof property !== 'string' || !METHODS.has(property) || typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => Promise<unknown>;
        return (...args: unknown[]) => {
          const error = this.#take(namespace, property, args);
          return error ? Promise.reject(error) : method.apply(target, args);
        };
      },
    });
  }

  #take(namespace: string, method: string, args: unknown[]): Error | null {
    const n = ++this.#count;
    const [first, second] = args;
    const key = Array.isArray(first) ? first.map(String).join(',') : String(first);
    const op = { namespace, method, key, state: method === 'set' ? stateOf(second) : null };
    let error = this.down;
    if (this.#failAt?.n === n) {
      error = this.#failAt.error;
      this.#failAt = null;
    }
    const rule = this.#rules.find((r) => r.match(op));
    if (rule) {
      error = rule.error;
      if (--rule.times <= 0) this.#rules.splice(this.#rules.indexOf(rule), 1);
    }
    this.ops.push({ n, ...op, failed: !!error });
    return error;
  }
}
