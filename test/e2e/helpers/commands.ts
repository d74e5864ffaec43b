import { PermissionFlagsBits } from 'discord.js';
import { expect } from 'vitest';
import { bodyOf, isCallback, isOriginalEdit, type Harness } from './harness.js';
import type { InteractionHandle } from './loopbackDiscord.js';

export const OPTION = { string: 3, integer: 4, boolean: 5, user: 6, channel: 7 } as const;
const EPHEMERAL = 64;

type Option = { name: string; type: number; value: string | number | boolean };

const P = PermissionFlagsBits;
/** A member who may use /veo-admin: a regular member's permissions plus Manage Server. */
export const MANAGER_PERMISSIONS = String(
  P.ViewChannel |
    P.SendMessages |
    P.EmbedLinks |
    P.AttachFiles |
    P.ReadMessageHistory |
    P.UseApplicationCommands |
    P.ManageGuild,
);

export function prompt(
  h: Harness,
  text: string,
  extra: { userId?: string; options?: Option[]; guildId?: string | null } = {},
) {
  return h.discord.slashCommand({
    name: 'veo',
    subcommand: 'prompt',
    options: [{ name: 'prompt', type: OPTION.string, value: text }, ...(extra.options ?? [])],
    ...(extra.userId ? { userId: extra.userId } : {}),
    ...(extra.guildId !== undefined ? { guildId: extra.guildId } : {}),
  });
}

export function quota(h: Harness, userId?: string) {
  return h.discord.slashCommand({ name: 'veo', subcommand: 'quota', ...(userId ? { userId } : {}) });
}

export function admin(
  h: Harness,
  subcommand: string,
  options: Option[] = [],
  as: { memberPermissions?: string; userId?: string; guildId?: string | null; locale?: string } = {},
) {
  return h.discord.slashCommand({
    name: 'veo-admin',
    subcommand,
    options,
    memberPermissions: as.memberPermissions ?? MANAGER_PERMISSIONS,
    ...(as.userId ? { userId: as.userId } : {}),
    ...(as.guildId !== undefined ? { guildId: as.guildId } : {}),
    ...(as.locale ? { locale: as.locale } : {}),
  });
}

export function member(userId: string): Option {
  return { name: 'user', type: OPTION.user, value: userId };
}

/**
 * The text a command answered with, asserting it was for the caller's eyes only: an immediate ephemeral
 * reply, or an ephemeral defer followed by the edit of that reply.
 */
export async function ephemeralText(h: Harness, handle: InteractionHandle): Promise<string> {
  const callback = await h.discord.waitForRequest((r) => isCallback(r, handle.interactionId), { afterSeq: handle.seq });
  const body = bodyOf(callback);
  const data = (body.data ?? {}) as Record<string, unknown>;
  expect(Number(data.flags) & EPHEMERAL).toBe(EPHEMERAL);
  if (body.type === 4) return String(data.content);
  expect(body.type).toBe(5);
  const edit = await h.discord.waitForRequest((r) => isOriginalEdit(r, handle.token), { afterSeq: handle.seq });
  return String(bodyOf(edit).content);
}
