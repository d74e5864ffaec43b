import type Keyv from 'keyv';
import type { Clock } from '../../lib/clock.js';
import { shardKey, shardOfGuild, type ShardPlace } from '../../lib/shard.js';
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

function places(count: number): ShardPlace[] {
  return Array.from({ length: count }, (_, id) => ({ id, count }));
}

/**
 * Re-files the per-shard job indexes when the shard count changes (SHARD_COUNT, or Discord's
 * recommendation under `auto`), so every active job lands in the index of the shard that now owns its
 * guild. Run only while no shard is running: by the sharding manager before it spawns any, or by a
 * single process holding the lease. Safe to run again after a crash: it reads the indexes of both
 * layouts, writes the new ones, records the layout, and only then drops the old keys.
 */
export async function adoptShardLayout(
  store: Keyv,
  count: number,
  clock: Clock,
  logger: Logger,
): Promise<LayoutChange | null> {
  const from = (await store.get<Layout>(LAYOUT_KEY))?.shards ?? 1;
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
    const oldKeys = places(from).map((p) => shardKey(base, p));
    const newKeys = places(count).map((p) => shardKey(base, p));
    const ids = new Set<string>();
    for (const key of new Set([...oldKeys, ...newKeys])) {
      for (const id of (await store.get<string[]>(key)) ?? []) ids.add(id);
    }
    const records = ids.size === 0 ? [] : await store.getMany<JobRecord>([...ids]);
    const live = records
      .filter((r): r is JobRecord => r !== undefined && r !== null && keep(r))
      .sort((a, b) => a.createdAt - b.createdAt);
    for (const key of newKeys) writes.set(key, []);
    for (const job of live) writes.get(shardKey(base, { id: shardOfGuild(job.guildId, count), count }))?.push(job.id);
    for (const key of oldKeys) if (!newKeys.includes(key)) stale.add(key);
    counts.push(live.length);
  }
  for (const [key, ids] of writes) {
    if (ids.length === 0) await store.delete(key);
    else await store.set(key, ids);
  }
  await store.set(LAYOUT_KEY, { shards: count } satisfies Layout);
  for (const key of stale) await store.delete(key);
  const change: LayoutChange = { from, to: count, active: counts[0] ?? 0, hd: counts[1] ?? 0, uhd: counts[2] ?? 0 };
  logger.info({ ...change }, 'job indexes re-filed for a new shard count');
  return change;
}
