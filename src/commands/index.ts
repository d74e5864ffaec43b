import type { RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import type { CommandDeps, CommandModule } from './types.js';
import { createVeoCommand, veoCommandData } from './veo/index.js';
import { createVeoAdminCommand, veoAdminCommandData } from './veoAdmin/index.js';

/** The one list of commands: the runtime router and deploy-commands both read it. */
export function createCommands(deps: CommandDeps): CommandModule[] {
  return [createVeoCommand(deps), createVeoAdminCommand(deps)];
}

export const commandDefinitions: readonly RESTPostAPIChatInputApplicationCommandsJSONBody[] = [
  veoCommandData,
  veoAdminCommandData,
];
