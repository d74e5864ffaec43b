import { PermissionFlagsBits, PermissionsBitField } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { missingPermissions } from '../../../src/commands/veo/accept.js';

const ALL_NEEDED =
  PermissionFlagsBits.ViewChannel |
  PermissionFlagsBits.SendMessages |
  PermissionFlagsBits.EmbedLinks |
  PermissionFlagsBits.AttachFiles |
  PermissionFlagsBits.ReadMessageHistory;

describe('missingPermissions (DESIGN §1.4)', () => {
  it('GIVEN every permission a job needs THEN nothing is missing', () => {
    expect(missingPermissions(new PermissionsBitField(ALL_NEEDED), false)).toEqual([]);
  });

  it("GIVEN no Read Message History (the search for a post made before a crash needs it) THEN it is named, in the member's language", () => {
    const without = new PermissionsBitField(ALL_NEEDED & ~PermissionFlagsBits.ReadMessageHistory);
    expect(missingPermissions(without, false)).toEqual(['Read Message History']);
    expect(missingPermissions(without, false, 'zh-CN')).toEqual(['读取消息历史']);
  });
});
