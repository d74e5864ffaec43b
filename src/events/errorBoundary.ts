import {
  DiscordAPIError,
  MessageFlags,
  RESTJSONErrorCodes,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type ModalSubmitInteraction,
  type StringSelectMenuInteraction,
} from 'discord.js';
import { UserFacingError } from '../errors.js';
import { t } from '../i18n/index.js';
import type { Logger } from '../logger.js';
import { isBusyKieError, KieError } from '../services/kie/errors.js';

export type Repliable =
  ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction | StringSelectMenuInteraction;

/** Discord says the interaction or its message is gone: there is nobody left to answer. */
const GONE_CODES: ReadonlySet<number> = new Set([
  RESTJSONErrorCodes.UnknownInteraction,
  RESTJSONErrorCodes.UnknownMessage,
  RESTJSONErrorCodes.InteractionHasAlreadyBeenAcknowledged,
]);

/** The one classifier for everything a handler throws (STYLE §4). */
export async function answerError(interaction: Repliable, error: unknown, logger: Logger): Promise<void> {
  const context = {
    interactionId: interaction.id,
    command: interaction.isChatInputCommand() ? interaction.commandName : undefined,
    customId: interaction.isChatInputCommand() ? undefined : interaction.customId,
    guildId: interaction.guildId,
    userId: interaction.user.id,
  };
  let text: string;
  if (error instanceof UserFacingError) {
    text = t(interaction.locale, error.key, error.params);
  } else if (error instanceof DiscordAPIError && typeof error.code === 'number' && GONE_CODES.has(error.code)) {
    logger.warn({ ...context, code: error.code }, 'interaction vanished before it was answered');
    return;
  } else if (isBusyKieError(error)) {
    logger.warn({ ...context, err: error }, 'kie busy');
    text = t(interaction.locale, 'error.busy');
  } else {
    logger.error({ ...context, err: error, kie: error instanceof KieError }, 'interaction failed');
    text = t(interaction.locale, 'error.generic');
  }
  const payload = { content: text, allowedMentions: { parse: [] } };
  try {
    if (interaction.deferred && !interaction.replied) await interaction.editReply(payload);
    else if (interaction.replied) await interaction.followUp({ ...payload, flags: MessageFlags.Ephemeral });
    else await interaction.reply({ ...payload, flags: MessageFlags.Ephemeral });
  } catch (replyError) {
    logger.warn({ ...context, err: replyError }, 'could not deliver the error reply');
  }
}
