import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import KeyvSqlite from '@keyv/sqlite';
import type Keyv from 'keyv';
import type { Backend, Namespace } from './store.js';

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

/** SQLite (`@keyv/sqlite`): one connection per namespace over the same file (DESIGN §8). */
export function openSqlite(file: string, keyvs: Readonly<Record<Namespace, Keyv>>): Backend {
  prepareSqliteFile(file);
  const reopen = () => new KeyvSqlite({ uri: `sqlite://${file}`, busyTimeout: 10_000 });
  const slots = Object.values(keyvs).map((keyv) => {
    const adapter = reopen();
    keyv.store = adapter;
    return { keyv, adapter };
  });
  return {
    ready: settle(slots, reopen),
    atomicLeases: null,
    scripts: null,
    connectBus: null,
    async close() {
      await Promise.all(slots.map((slot) => slot.adapter.disconnect()));
    },
  };
}
