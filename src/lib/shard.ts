import { ShardClientUtil } from 'discord.js';

/** The shards one process runs: `ids` of `count` (DESIGN §8). It owns the guilds of those shards. */
export interface ShardSet {
  readonly ids: readonly number[];
  readonly count: number;
}

/** One process, one shard: every guild and every DM. */
export const SINGLE_SHARD: ShardSet = Object.freeze({ ids: Object.freeze([0]), count: 1 });

/** Every shard of `count`. */
export function allShards(count: number): ShardSet {
  return Object.freeze({ ids: Object.freeze(Array.from({ length: count }, (_, id) => id)), count });
}

export function runsAllShards(set: ShardSet): boolean {
  return set.ids.length === set.count;
}

/**
 * The shard Discord sends a guild's events to (discord.js's own `(guild_id >> 22) % count`). DMs
 * (guildId null) always go to shard 0, so their jobs and quotas belong there too; so does anything that
 * is not a snowflake, which discord.js would refuse.
 */
export function shardOfGuild(guildId: string | null, count: number): number {
  if (guildId === null || count <= 1 || !/^\d{1,20}$/.test(guildId)) return 0;
  return ShardClientUtil.shardIdForGuildId(guildId, count);
}

/** Whether this set owns the guild (or, for null, the DMs). */
export function ownsGuild(set: ShardSet, guildId: string | null): boolean {
  return set.ids.includes(shardOfGuild(guildId, set.count));
}

/**
 * A store key that only one shard writes: the plain key with one shard (the name single-process
 * deployments already have), `<key>:<shard>` with several. Keyv has no atomic update, so a value that two
 * processes read-modify-write would lose writes; each shard gets its own instead.
 */
export function shardKey(key: string, shard: number, count: number): string {
  return count === 1 ? key : `${key}:${String(shard)}`;
}

/**
 * `SHARD_IDS`: ranges and single ids, comma-separated (`0-24`, `0,3,5`, `0-3,8`), as a sorted list
 * without repeats; null when the text is not that shape.
 */
export function parseShardIds(text: string): number[] | null {
  const ids = new Set<number>();
  for (const part of text.split(',')) {
    const match = /^\s*(\d{1,4})\s*(?:-\s*(\d{1,4})\s*)?$/.exec(part);
    if (!match) return null;
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (to < from) return null;
    for (let id = from; id <= to; id++) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}

/** `0-3,8` for [0, 1, 2, 3, 8]: how logs and errors name a set of shards. */
export function formatShardIds(ids: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ids.length;) {
    let j = i;
    while (j + 1 < ids.length && (ids[j + 1] ?? NaN) === (ids[j] ?? NaN) + 1) j++;
    parts.push(i === j ? String(ids[i]) : `${String(ids[i])}-${String(ids[j])}`);
    i = j + 1;
  }
  return parts.join(',');
}
