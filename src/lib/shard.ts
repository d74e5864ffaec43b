import { ShardClientUtil } from 'discord.js';

/** Which slice of the bot's guilds a process handles: shard `id` of `count` (DESIGN §8). */
export interface ShardPlace {
  readonly id: number;
  readonly count: number;
}

/** One process, one shard: every guild and every DM. */
export const SINGLE_SHARD: ShardPlace = Object.freeze({ id: 0, count: 1 });

/**
 * The shard Discord sends a guild's events to (discord.js's own `(guild_id >> 22) % count`). DMs
 * (guildId null) always go to shard 0, so their jobs and quotas belong there too; so does anything that
 * is not a snowflake, which discord.js would refuse.
 */
export function shardOfGuild(guildId: string | null, count: number): number {
  if (guildId === null || count <= 1 || !/^\d{1,20}$/.test(guildId)) return 0;
  return ShardClientUtil.shardIdForGuildId(guildId, count);
}

/** Whether this place owns the guild (or, for null, the DMs). */
export function ownsGuild(place: ShardPlace, guildId: string | null): boolean {
  return shardOfGuild(guildId, place.count) === place.id;
}

/**
 * A store key that only one shard writes: the plain key with one shard (the name single-process
 * deployments already have), `<key>:<id>` with several. Keyv has no atomic update, so a value that two
 * processes read-modify-write would lose writes; each shard gets its own instead.
 */
export function shardKey(key: string, place: ShardPlace): string {
  return place.count === 1 ? key : `${key}:${String(place.id)}`;
}
