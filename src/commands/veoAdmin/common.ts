import {
  ApplicationCommandOptionType,
  MessageFlags,
  type APIApplicationCommandUserOption,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';

/** A `/veo-admin` interaction once the gate has checked it comes from a server. */
export type AdminInteraction = ChatInputCommandInteraction<'cached' | 'raw'>;

export function memberOption(description: string): APIApplicationCommandUserOption {
  return { type: ApplicationCommandOptionType.User, name: 'user', description, required: true };
}

/**
 * The member an admin named. Read from the option's raw value, not `getUser()`: the id is all we need and
 * it is present even when the payload carries no resolved user.
 */
export function targetUserId(interaction: AdminInteraction): string {
  const { value } = interaction.options.get('user', true);
  if (typeof value !== 'string' || !/^\d{1,20}$/.test(value)) throw new UserFacingError('error.generic');
  return value;
}

/** Every admin answer is for the admin's eyes only and pings nobody, even when it names a member. */
export async function answer(interaction: AdminInteraction, content: string): Promise<void> {
  const payload = { content, allowedMentions: { parse: [] } };
  if (interaction.deferred) await interaction.editReply(payload);
  else await interaction.reply({ ...payload, flags: MessageFlags.Ephemeral });
}

export async function deferAnswer(interaction: AdminInteraction): Promise<void> {
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
}
