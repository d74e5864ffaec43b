import type { RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import { UserFacingError } from '../errors.js';
import { CustomIdPrefix } from '../lib/customId.js';
import type { CommandDeps, CommandModule } from './types.js';
import { onHdClick } from './veo/hdButton.js';
import { executePrompt, promptSubcommand } from './veo/prompt.js';

export const veoCommandData = {
  name: 'veo',
  description: 'Make short videos with Google Veo 3.1',
  options: [promptSubcommand],
} satisfies RESTPostAPIChatInputApplicationCommandsJSONBody;

export function createVeoCommand(deps: CommandDeps): CommandModule {
  return {
    data: veoCommandData,
    async execute(interaction) {
      const sub = interaction.options.getSubcommand(true);
      if (sub === 'prompt') await executePrompt(interaction, deps);
      else throw new UserFacingError('error.generic');
    },
    buttons: { [CustomIdPrefix.Upscale1080p]: (interaction, jobId) => onHdClick(interaction, jobId, deps) },
  };
}
