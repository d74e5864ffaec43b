import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import KeyvSqlite from '@keyv/sqlite';
import Keyv from 'keyv';
import type { StoreLocation } from '../config.js';

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

/** Creates the file owner-only before SQLite opens it, so job records are never world-readable. */
function prepareSqliteFile(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
}

/**
 * Write-ahead logging with synchronous=NORMAL: a commit survives a crash of the process (kill -9), only
 * an OS crash may lose the last few; the default (rollback journal, fsync per commit) made every job
 * step wait for the disk and queued interaction acknowledgements behind them.
 */
async function tune(adapters: readonly KeyvSqlite[]): Promise<void> {
  const [first, ...rest] = adapters;
  if (!first) return;
  await first.query('PRAGMA journal_mode=WAL');
  await Promise.all([first, ...rest].map((a) => a.query('PRAGMA synchronous=NORMAL')));
}

/**
 * One adapter instance per namespace: a shared adapter lets namespaces leak into each other's
 * iterator() and clear() (DESIGN §8).
 */
export function openStores(location: StoreLocation): Stores {
  if (location.kind !== 'sqlite') {
    throw new Error('STORE_URL: only sqlite:// stores are supported by this version');
  }
  prepareSqliteFile(location.file);
  const adapters: KeyvSqlite[] = [];
  const open = (namespace: Namespace): Keyv => {
    const adapter = new KeyvSqlite({ uri: `sqlite://${location.file}`, busyTimeout: 10_000 });
    adapters.push(adapter);
    // A swallowed store error would read as an empty ledger and grant quota; let it surface.
    return new Keyv({ store: adapter, namespace, throwOnErrors: true });
  };
  const stores = { jobs: open('jobs'), quota: open('quota'), guilds: open('guilds'), leases: open('leases') };
  return {
    ...stores,
    ready: tune(adapters),
    async close() {
      await Promise.all(adapters.map((a) => a.disconnect()));
    },
  };
}
