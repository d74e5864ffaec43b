import { ApplicationCommandOptionType, type APIApplicationCommandSubcommandOption } from 'discord.js';
import { t } from '../../i18n/index.js';
import type { CommandDeps } from '../types.js';
import { answer, deferAnswer, memberOption, targetUserId, type AdminInteraction } from './common.js';

export const resetSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'reset',
  description: 'Give a member a fresh window: their used units no longer count',
  options: [memberOption('The member whose units to restore')],
} satisfies APIApplicationCommandSubcommandOption;

export const blockSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'block',
  description: 'Stop a member from generating videos on this server',
  options: [memberOption('The member to block')],
} satisfies APIApplicationCommandSubcommandOption;

export const unblockSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'unblock',
  description: 'Let a blocked member generate videos again',
  options: [memberOption('The member to unblock')],
} satisfies APIApplicationCommandSubcommandOption;

export const forgetSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'forget',
  description: "Delete a member's job records and usage on this server",
  options: [memberOption('The member whose records to delete')],
} satisfies APIApplicationCommandSubcommandOption;

export async function executeReset(interaction: AdminInteraction, deps: CommandDeps): Promise<void> {
  const { guildId, locale } = interaction;
  const user = targetUserId(interaction);
  await deps.quota.reset({ guildId, userId: user });
  const status = await deps.quota.status({ guildId, userId: user });
  deps.logger.info({ guildId, adminId: interaction.user.id, memberId: user }, 'member quota reset');
  await answer(interaction, t(locale, 'admin.reset_done', { user, remaining: status.remaining, limit: status.limit }));
}

export async function executeBlock(interaction: AdminInteraction, deps: CommandDeps, blocked: boolean): Promise<void> {
  const { guildId, locale } = interaction;
  const user = targetUserId(interaction);
  const changed = await deps.guildSettings.setBlocked(guildId, user, blocked);
  if (changed)
    deps.logger.info({ guildId, adminId: interaction.user.id, memberId: user, blocked }, 'member block changed');
  const key = blocked
    ? changed
      ? 'admin.block_done'
      : 'admin.block_already'
    : changed
      ? 'admin.unblock_done'
      : 'admin.unblock_already';
  await answer(interaction, t(locale, key, { user }));
}

/** Deletes what the bot keeps about the member here; their running jobs are kept until they settle. */
export async function executeForget(interaction: AdminInteraction, deps: CommandDeps): Promise<void> {
  const { guildId, locale } = interaction;
  const user = targetUserId(interaction);
  await deferAnswer(interaction);
  const { deleted, kept } = await deps.jobs.forgetMember(guildId, user);
  await deps.quota.forget(guildId, user);
  deps.logger.info(
    { guildId, adminId: interaction.user.id, memberId: user, deleted, kept },
    'member records forgotten',
  );
  const lines = [t(locale, 'admin.forget_done', { user, deleted })];
  if (kept > 0) lines.push(t(locale, 'admin.forget_kept', { kept }));
  await answer(interaction, lines.join('\n'));
}
