import { describe, expect, it } from 'vitest';
import { shardOfGuild } from '../../../src/lib/shard.js';

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
