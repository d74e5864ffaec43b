import {
  DiscordAPIError,
  Events,
  MessageFlags,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type ModalSubmitInteraction,
} from 'discord.js';
import type { CommandModule } from '../commands/types.js';
import { UserFacingError } from '../errors.js';
import { t } from '../i18n/index.js';
import { decodeCustomId } from '../lib/customId.js';
import type { Logger } from '../logger.js';
import { KieHttpError, KieRateLimitError, KieTimeoutError, KieError } from '../services/kie/errors.js';
import type { BotEvent } from './types.js';

type Repliable = ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction;

/** Discord says the interaction or its message is gone: there is nobody left to answer. */
const GONE_CODES: ReadonlySet<number> = new Set([10062, 10008, 40060]);

function isBusyKieError(error: unknown): boolean {
  if (error instanceof KieRateLimitError || error instanceof KieTimeoutError) return true;
  return error instanceof KieHttpError && (error.apiCode === 429 || error.apiCode >= 500);
}

/** The one classifier for everything a handler throws (STYLE §4). */
export async function answerError(interaction: Repliable, error: unknown, logger: Logger): Promise<void> {
  const context = {
    interactionId: interaction.id,
    command: interaction.isChatInputCommand() ? interaction.commandName : undefined,
    customId: interaction.isButton() || interaction.isModalSubmit() ? interaction.customId : undefined,
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

export function createInteractionCreateEvent(
  commands: readonly CommandModule[],
  logger: Logger,
): BotEvent<typeof Events.InteractionCreate> {
  const byName = new Map(commands.map((c) => [c.data.name, c]));
  const buttons = new Map(commands.flatMap((c) => Object.entries(c.buttons)));
  const modals = new Map(commands.flatMap((c) => Object.entries(c.modals ?? {})));

  async function route(interaction: Repliable): Promise<void> {
    if (interaction.isChatInputCommand()) {
      const command = byName.get(interaction.commandName);
      if (!command) throw new UserFacingError('error.generic');
      await command.execute(interaction);
      return;
    }
    const decoded = decodeCustomId(interaction.customId);
    if (interaction.isModalSubmit()) {
      const onModal = decoded ? modals.get(decoded.prefix) : undefined;
      if (!decoded || !onModal) throw new UserFacingError('error.job_not_found');
      await onModal(interaction, decoded.jobId);
      return;
    }
    const handler = decoded ? buttons.get(decoded.prefix) : undefined;
    if (!decoded || !handler) throw new UserFacingError('error.job_not_found');
    await handler(interaction, decoded.jobId);
  }

  return {
    name: Events.InteractionCreate,
    async execute(interaction: Interaction) {
      if (!interaction.isChatInputCommand() && !interaction.isButton() && !interaction.isModalSubmit()) return;
      try {
        await route(interaction);
        if (!interaction.replied && !interaction.deferred) throw new Error('handler returned without answering');
      } catch (error) {
        await answerError(interaction, error, logger);
      }
    },
  };
}
