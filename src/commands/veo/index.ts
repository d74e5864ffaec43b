import type { RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { localizeCommand } from '../../i18n/commands.js';
import { CustomIdPrefix } from '../../lib/customId.js';
import type { CommandDeps, CommandEntry, CommandModule } from '../types.js';
import { animateSubcommand, executeAnimate } from './animate.js';
import { executeReference, referenceSubcommand } from './reference.js';
import { onUpgradeClick } from './upgrade.js';

import { executeJobs, jobsSubcommand } from './history.js';
import { executePrompt, promptSubcommand } from './prompt.js';
import { executeQuota, quotaSubcommand } from './quota.js';
import { executeSettings, onSettingsControl, settingsSubcommand } from './settings.js';
import { onDetailsClick, onExtendClick, onExtendSubmit, onRerunClick } from './buttons.js';

export const veoCommandData = localizeCommand({
  name: 'veo',
  description: 'Make short videos with Google Veo 3.1',
  options: [
    promptSubcommand,
    animateSubcommand,
    referenceSubcommand,
    quotaSubcommand,
    jobsSubcommand,
    settingsSubcommand,
  ],
} satisfies RESTPostAPIChatInputApplicationCommandsJSONBody);

function createVeoCommand(deps: CommandDeps): CommandModule {
  return {
    data: veoCommandData,
    async execute(interaction) {
      const sub = interaction.options.getSubcommand(true);
      if (sub === 'prompt') await executePrompt(interaction, deps);
      else if (sub === 'animate') await executeAnimate(interaction, deps);
      else if (sub === 'reference') await executeReference(interaction, deps);
      else if (sub === 'quota') await executeQuota(interaction, deps);
      else if (sub === 'jobs') await executeJobs(interaction, deps);
      else if (sub === 'settings') await executeSettings(interaction, deps);
      else throw new UserFacingError('error.generic');
    },
    buttons: {
      [CustomIdPrefix.Upscale1080p]: (interaction, jobId) => onUpgradeClick(interaction, jobId, deps, '1080p'),
      [CustomIdPrefix.Upscale4k]: (interaction, jobId) => onUpgradeClick(interaction, jobId, deps, '4k'),
      [CustomIdPrefix.Rerun]: (interaction, jobId) => onRerunClick(interaction, jobId, deps),
      [CustomIdPrefix.Extend]: (interaction, jobId) => onExtendClick(interaction, jobId, deps),
      [CustomIdPrefix.Details]: (interaction, jobId) => onDetailsClick(interaction, jobId, deps),
    },
    modals: { [CustomIdPrefix.ExtendModal]: (interaction, jobId) => onExtendSubmit(interaction, jobId, deps) },
    settings: (interaction, control) => onSettingsControl(interaction, control, deps),
  };
}

export const veoCommand: CommandEntry = { data: veoCommandData, create: createVeoCommand };
