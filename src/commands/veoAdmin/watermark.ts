import { ApplicationCommandOptionType, escapeMarkdown, type APIApplicationCommandSubcommandOption } from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { t } from '../../i18n/index.js';
import { WATERMARK_MAX, watermarkProblem } from '../../services/quota/guildSettings.js';
import type { CommandDeps } from '../types.js';
import { answer, type AdminInteraction } from './common.js';

export const watermarkSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'watermark',
  description: 'Put a text watermark on every video made on this server; no text (or off) turns it off',
  options: [
    {
      type: ApplicationCommandOptionType.String,
      name: 'text',
      description: `The watermark, at most ${WATERMARK_MAX} characters; leave it out or say off to turn it off`,
      max_length: WATERMARK_MAX,
    },
  ],
} satisfies APIApplicationCommandSubcommandOption;

/** `/veo-admin watermark [text:]` (DESIGN §1.8): kie's `watermark` on every later job of this server. */
export async function executeWatermark(interaction: AdminInteraction, deps: CommandDeps): Promise<void> {
  const { guildId, locale } = interaction;
  const given = interaction.options.getString('text')?.trim() ?? '';
  // DESIGN §1.8 spells "off" as a value too; no one wants those three letters burned into their videos.
  const text = given === '' || given.toLowerCase() === 'off' ? null : given;
  if (text !== null) {
    const problem = watermarkProblem(text);
    if (problem?.reason === 'too_long')
      throw new UserFacingError('admin.watermark_too_long', { max: WATERMARK_MAX, length: problem.length });
    if (problem) throw new UserFacingError('admin.watermark_one_line');
  }
  await deps.guildSettings.setWatermark(guildId, text);
  deps.logger.info({ guildId, adminId: interaction.user.id, length: text?.length ?? 0 }, 'server watermark changed');
  await answer(
    interaction,
    text === null ? t(locale, 'admin.watermark_off') : t(locale, 'admin.watermark_set', { text: escapeMarkdown(text) }),
  );
}
