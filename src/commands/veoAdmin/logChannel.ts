import { ApplicationCommandOptionType, ChannelType, type APIApplicationCommandSubcommandOption } from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { t } from '../../i18n/index.js';
import type { CommandDeps } from '../types.js';
import { answer, deferAnswer, type AdminInteraction } from './common.js';

export const logChannelSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'log-channel',
  description: 'Mirror every video made here to a channel; without a channel, turn it off',
  options: [
    {
      type: ApplicationCommandOptionType.Channel,
      name: 'channel',
      description: 'Where to mirror videos; leave it out to turn the log off',
      channel_types: [ChannelType.GuildText, ChannelType.GuildAnnouncement],
    },
  ],
} satisfies APIApplicationCommandSubcommandOption;

/**
 * Sets the log channel after one real post there: the payload cannot say what the bot may do in another
 * channel (a resolved channel carries the admin's permissions, not the bot's), so Discord's answer decides.
 */
export async function executeLogChannel(interaction: AdminInteraction, deps: CommandDeps): Promise<void> {
  const { guildId, locale } = interaction;
  const option = interaction.options.get('channel');
  if (!option) {
    await deps.guildSettings.setLogChannel(guildId, null);
    deps.logger.info({ guildId, adminId: interaction.user.id }, 'log channel turned off');
    await answer(interaction, t(locale, 'admin.log_channel_off'));
    return;
  }
  const channelId = option.value;
  if (typeof channelId !== 'string' || !/^\d{1,20}$/.test(channelId)) throw new UserFacingError('error.generic');
  await deferAnswer(interaction);
  // The mirror speaks to the server's moderators, so in the server's language.
  const channel = { channelId, locale: interaction.guildLocale ?? locale };
  const missing = await deps.mirror.welcome(channel, interaction.user.id);
  if (missing) {
    const permission = t(locale, `permission.${missing}`);
    await answer(interaction, t(locale, 'admin.log_channel_missing', { channel: channelId, permission }));
    return;
  }
  await deps.guildSettings.setLogChannel(guildId, channel);
  deps.logger.info({ guildId, adminId: interaction.user.id, channelId }, 'log channel set');
  await answer(interaction, t(locale, 'admin.log_channel_set', { channel: channelId }));
}
