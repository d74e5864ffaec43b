import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoreLocation } from '../../src/config.js';
import { redisBackend } from '../helpers/stores.js';

const run = promisify(execFile);
const root = path.resolve('.');

/**
 * What the compiled bot loads (DESIGN §2, issue 15 "Lean"), read from a fresh node process: the bot's
 * whole static module graph plus the store adapter of one STORE_URL, then every CommonJS module loaded.
 */
async function loadedFiles(location: StoreLocation): Promise<string[]> {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(path.join(root, 'dist/src/bot.js'))});
    const { openStores } = await import(${JSON.stringify(path.join(root, 'dist/src/services/runtime/store.js'))});
    const stores = openStores(${JSON.stringify(location)});
    await stores.ready;
    await stores.close();
    process.stdout.write(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)), () => process.exit(0));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
  return JSON.parse(stdout) as string[];
}

describe('modules the compiled bot loads (fresh node processes)', () => {
  let dir: string;

  beforeAll(async () => {
    if (!existsSync(path.join(root, 'dist/src/bot.js'))) throw new Error('dist is missing: run npm run build first');
    dir = await mkdtemp(path.join(tmpdir(), 'veo-modules-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('GIVEN SQLite THEN node-redis is never loaded, and undici is one copy', async () => {
    const files = await loadedFiles({ kind: 'sqlite', file: path.join(dir, 'bot.sqlite') });
    expect(files.filter((f) => f.includes('/node_modules/@redis/') || f.includes('/@keyv/redis/'))).toEqual([]);
    expect(files.some((f) => f.includes('/node_modules/sqlite3/'))).toBe(true);
    const undici = files.filter((f) => /\/node_modules\/undici\//.test(f));
    expect(undici.length).toBeGreaterThan(0);
    expect(new Set(undici.map((f) => f.slice(0, f.lastIndexOf('/node_modules/undici/'))))).toEqual(new Set([root]));
  });

  it('GIVEN Redis THEN node-redis is loaded, and SQLite is not', async () => {
    const location = await redisBackend.fresh();
    try {
      const files = await loadedFiles(location);
      expect(files.some((f) => f.includes('/node_modules/@redis/client/'))).toBe(true);
      expect(files.filter((f) => f.includes('/node_modules/sqlite3/'))).toEqual([]);
    } finally {
      await redisBackend.remove(location);
    }
  });
});
