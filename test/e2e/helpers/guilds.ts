import type { GuildFixture } from './loopbackDiscord.js';

const DISCORD_EPOCH = 1_420_070_400_000n;
let next = 0n;

/**
 * A guild Discord routes to `shard` of `count` ((id >> 22) % count), with a channel and a thread. Ids are
 * a day old and 8,192 ms apart (so a guild's derived channel and role ids never meet another's), and
 * unique within the test process.
 */
export function guildOnShard(shard: number, count: number, name = `Shard ${String(shard)} Guild`): GuildFixture {
  let ms = BigInt(Date.now()) - DISCORD_EPOCH - 86_400_000n + next;
  next += 8_192n * BigInt(count);
  ms += (BigInt(shard) - (ms % BigInt(count)) + BigInt(count)) % BigInt(count);
  const id = ms << 22n;
  return {
    id: id.toString(),
    name,
    channelId: (id | 1n).toString(),
    threadId: (id | 2n).toString(),
    premiumTier: 0,
  };
}

/** `perShard` guilds on each shard of `count`, shard by shard. */
export function guildsOnShards(count: number, perShard: number): GuildFixture[] {
  return Array.from({ length: count }, (_, shard) =>
    Array.from({ length: perShard }, (_, i) => guildOnShard(shard, count, `Shard ${String(shard)} Guild ${String(i)}`)),
  ).flat();
}
