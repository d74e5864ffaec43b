import {
  ApplicationCommandOptionType,
  MessageFlags,
  type APIApplicationCommandSubcommandOption,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';
import type { CommandDeps } from '../types.js';
import { renderQuota } from './views.js';

export const quotaSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'quota',
  description: 'How many units you have left here, and when the next one comes back',
} satisfies APIApplicationCommandSubcommandOption;

export async function executeQuota(interaction: ChatInputCommandInteraction, deps: CommandDeps): Promise<void> {
  const { guildId } = interaction;
  if (guildId === null && !deps.config.allowDms) throw new UserFacingError('refusal.dm_disabled');
  const [status, limits, server] = await Promise.all([
    deps.quota.status({ guildId, userId: interaction.user.id }),
    deps.quota.limits(guildId),
    guildId === null ? null : deps.quota.serverUsage(guildId),
  ]);
  await interaction.reply({
    content: renderQuota(interaction.locale, status, limits, server),
    flags: MessageFlags.Ephemeral,
    allowedMentions: { parse: [] },
  });
}
