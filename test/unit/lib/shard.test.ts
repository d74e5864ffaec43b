import { describe, expect, it } from 'vitest';
import {
  allShards,
  formatShardIds,
  ownsGuild,
  parseShardIds,
  shardKey,
  shardOfGuild,
  SINGLE_SHARD,
} from '../../../src/lib/shard.js';

describe('shardOfGuild', () => {
  it('GIVEN snowflakes THEN the shard is (id >> 22) % count, as Discord routes them', () => {
    for (const id of ['222222222222222222', '1157381826273234944', '81384788765712384']) {
      for (const count of [2, 3, 16]) expect(shardOfGuild(id, count)).toBe(Number((BigInt(id) >> 22n) % BigInt(count)));
    }
  });

  it('GIVEN DMs, one shard, or a guild id that is not a snowflake THEN shard 0', () => {
    expect(shardOfGuild(null, 4)).toBe(0);
    expect(shardOfGuild('1157381826273234944', 1)).toBe(0);
    expect(shardOfGuild('1157381826273234944', 0)).toBe(0);
    expect(shardOfGuild('not-a-guild', 4)).toBe(0);
    expect(shardOfGuild('', 4)).toBe(0);
    expect(shardOfGuild('1'.repeat(21), 4)).toBe(0);
  });
});

describe('shard sets', () => {
  it('GIVEN SHARD_IDS text THEN ranges and lists become a sorted list without repeats, and anything else null', () => {
    expect(parseShardIds('0-3')).toEqual([0, 1, 2, 3]);
    expect(parseShardIds('5, 0,3 ,3')).toEqual([0, 3, 5]);
    expect(parseShardIds('8,0-2')).toEqual([0, 1, 2, 8]);
    for (const bad of ['', 'a', '3-1', '-1', '1-', '1,,2', '0.5', '12345']) expect(parseShardIds(bad)).toBeNull();
    expect(formatShardIds([0, 1, 2, 3, 8, 10, 11])).toBe('0-3,8,10-11');
  });

  it('GIVEN shards 2-3 of 4 THEN they own the guilds Discord routes to 2 and 3, not the DMs; shard 0 owns the DMs', () => {
    const guild = (shard: number) => ((BigInt(4 * 1000 + shard) << 22n) | 5n).toString();
    const high = { ids: [2, 3], count: 4 };
    expect([0, 1, 2, 3].map((s) => ownsGuild(high, guild(s)))).toEqual([false, false, true, true]);
    expect(ownsGuild(high, null)).toBe(false);
    expect(ownsGuild({ ids: [0, 1], count: 4 }, null)).toBe(true);
    expect(ownsGuild(SINGLE_SHARD, guild(3))).toBe(true);
    expect(allShards(3)).toEqual({ ids: [0, 1, 2], count: 3 });
    expect([shardKey('index:active', 2, 4), shardKey('index:active', 0, 1)]).toEqual([
      'index:active:2',
      'index:active',
    ]);
  });
});
