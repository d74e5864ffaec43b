import type { RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import { UserFacingError } from '../errors.js';
import { CustomIdPrefix } from '../lib/customId.js';
import type { CommandDeps, CommandModule } from './types.js';
import { animateSubcommand, executeAnimate } from './veo/animate.js';
import { onHdClick } from './veo/hdButton.js';
import { executePrompt, promptSubcommand } from './veo/prompt.js';
import { executeQuota, quotaSubcommand } from './veo/quota.js';

export const veoCommandData = {
  name: 'veo',
  description: 'Make short videos with Google Veo 3.1',
  options: [promptSubcommand, animateSubcommand, quotaSubcommand],
} satisfies RESTPostAPIChatInputApplicationCommandsJSONBody;

export function createVeoCommand(deps: CommandDeps): CommandModule {
  return {
    data: veoCommandData,
    async execute(interaction) {
      const sub = interaction.options.getSubcommand(true);
      if (sub === 'prompt') await executePrompt(interaction, deps);
      else if (sub === 'animate') await executeAnimate(interaction, deps);
      else if (sub === 'quota') await executeQuota(interaction, deps);
      else throw new UserFacingError('error.generic');
    },
    buttons: { [CustomIdPrefix.Upscale1080p]: (interaction, jobId) => onHdClick(interaction, jobId, deps) },
  };
}
