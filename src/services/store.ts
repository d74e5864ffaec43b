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
  close(): Promise<void>;
}

/** Creates the file owner-only before SQLite opens it, so job records are never world-readable. */
function prepareSqliteFile(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
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
    async close() {
      await Promise.all(adapters.map((a) => a.disconnect()));
    },
  };
}
