import { Events, type Interaction } from 'discord.js';
import type { CommandModule } from '../commands/types.js';
import { UserFacingError } from '../errors.js';
import { decodeCustomId, decodeSettingsId } from '../lib/customId.js';
import type { Logger } from '../logger.js';
import type { BotEvent } from './index.js';
import { answerError, type Repliable } from './errorBoundary.js';

export function createInteractionCreateEvent(
  commands: readonly CommandModule[],
  logger: Logger,
): BotEvent<typeof Events.InteractionCreate> {
  const byName = new Map(commands.map((c) => [c.data.name, c]));
  const buttons = new Map(commands.flatMap((c) => Object.entries(c.buttons)));
  const modals = new Map(commands.flatMap((c) => Object.entries(c.modals ?? {})));
  const settings = commands.find((c) => c.settings)?.settings;

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
    const control = decodeSettingsId(interaction.customId);
    if (control !== null && settings) {
      await settings(interaction, control);
      return;
    }
    const handler = decoded ? buttons.get(decoded.prefix) : undefined;
    if (!decoded || !handler || !interaction.isButton()) throw new UserFacingError('error.job_not_found');
    await handler(interaction, decoded.jobId);
  }

  return {
    name: Events.InteractionCreate,
    async execute(interaction: Interaction) {
      const handled =
        interaction.isChatInputCommand() ||
        interaction.isButton() ||
        interaction.isModalSubmit() ||
        interaction.isStringSelectMenu();
      if (!handled) return;
      try {
        await route(interaction);
        if (!interaction.replied && !interaction.deferred) throw new Error('handler returned without answering');
      } catch (error) {
        await answerError(interaction, error, logger);
      }
    },
  };
}
