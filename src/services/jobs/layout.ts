import type Keyv from 'keyv';
import type { Clock } from '../../lib/clock.js';
import { shardKey, shardOfGuild } from '../../lib/shard.js';
import type { Logger } from '../../logger.js';
import { isSettled, type JobRecord } from './record.js';
import { ACTIVE_INDEX, HD_INDEX, UHD_INDEX, upgradePreparing } from './store.js';

/** In namespace `jobs`: how many shards the per-shard indexes are split for (absent: 1). */
export const LAYOUT_KEY = 'layout';

interface Layout {
  readonly shards: number;
}

export interface LayoutChange {
  readonly from: number;
  readonly to: number;
  readonly active: number;
  readonly hd: number;
  readonly uhd: number;
}

/** The shard count the job indexes are filed for (1 on a store that never had several). */
export async function currentShardLayout(store: Keyv): Promise<number> {
  return (await store.get<Layout>(LAYOUT_KEY))?.shards ?? 1;
}

/** The indexes of a kind for every shard of `count`. */
function indexKeys(base: string, count: number): string[] {
  return Array.from({ length: count }, (_, id) => shardKey(base, id, count));
}

/**
 * The job indexes are filed for another shard count and jobs are listed in them: only `npm run reshard`
 * (or a process running every shard) may move them, while no other process runs.
 */
export class LayoutMismatchError extends Error {
  constructor(
    readonly from: number,
    readonly to: number,
  ) {
    super(
      `the job indexes are filed for ${String(from)} shards, but SHARD_COUNT is ${String(to)}: stop every ` +
        `process of the bot, run SHARD_COUNT=${String(to)} npm run reshard once, then start them again`,
    );
    this.name = 'LayoutMismatchError';
  }
}

/**
 * Re-files the per-shard job indexes when the shard count changes, so every active job lands in the index
 * of the shard that now owns its guild. Only while no other process runs: `npm run reshard`, or a
 * process holding the leases of every shard of both counts (`mayMove`). Without `mayMove` it only records
 * the new count when nothing is filed under the old one (a fresh store), and throws LayoutMismatchError
 * otherwise. Safe to run again after a crash: it reads the indexes of both layouts, writes the new ones,
 * records the layout, and only then drops the old keys.
 */
export async function adoptShardLayout(
  store: Keyv,
  count: number,
  clock: Clock,
  logger: Logger,
  mayMove = true,
): Promise<LayoutChange | null> {
  const from = await currentShardLayout(store);
  if (from === count) return null;
  const now = clock.now();
  const kinds = [
    { base: ACTIVE_INDEX, keep: (job: JobRecord) => !isSettled(job, now) },
    { base: HD_INDEX, keep: (job: JobRecord) => upgradePreparing(job, '1080p') },
    { base: UHD_INDEX, keep: (job: JobRecord) => upgradePreparing(job, '4k') },
  ];
  const writes = new Map<string, string[]>();
  const stale = new Set<string>();
  const counts: number[] = [];
  for (const { base, keep } of kinds) {
    const oldKeys = indexKeys(base, from);
    const newKeys = indexKeys(base, count);
    const ids = new Set<string>();
    for (const key of new Set([...oldKeys, ...newKeys])) {
      for (const id of (await store.get<string[]>(key)) ?? []) ids.add(id);
    }
    const records = ids.size === 0 ? [] : await store.getMany<JobRecord>([...ids]);
    const live = records
      .filter((r): r is JobRecord => r !== undefined && r !== null && keep(r))
      .sort((a, b) => a.createdAt - b.createdAt);
    for (const key of newKeys) writes.set(key, []);
    for (const job of live) writes.get(shardKey(base, shardOfGuild(job.guildId, count), count))?.push(job.id);
    for (const key of oldKeys) if (!newKeys.includes(key)) stale.add(key);
    counts.push(live.length);
  }
  const change: LayoutChange = { from, to: count, active: counts[0] ?? 0, hd: counts[1] ?? 0, uhd: counts[2] ?? 0 };
  if (!mayMove) {
    if (change.active + change.hd + change.uhd > 0) throw new LayoutMismatchError(from, count);
    // Nothing to move, so no index is touched: another process of this count may be filing jobs already.
    await store.set(LAYOUT_KEY, { shards: count } satisfies Layout);
    logger.info({ ...change }, 'shard count recorded for a store with no job in flight');
    return change;
  }
  for (const [key, ids] of writes) {
    if (ids.length === 0) await store.delete(key);
    else await store.set(key, ids);
  }
  await store.set(LAYOUT_KEY, { shards: count } satisfies Layout);
  for (const key of stale) await store.delete(key);
  logger.info({ ...change }, 'job indexes re-filed for a new shard count');
  return change;
}
