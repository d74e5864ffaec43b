import type { RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import type { CommandDeps, CommandEntry, CommandModule } from './types.js';
import { veoCommand } from './veo/index.js';
import { veoAdminCommand } from './veoAdmin/index.js';

/** The one list of commands: the runtime router and deploy-commands both read it. */
const COMMANDS: readonly CommandEntry[] = [veoCommand, veoAdminCommand];

export const commandDefinitions: readonly RESTPostAPIChatInputApplicationCommandsJSONBody[] = COMMANDS.map(
  (c) => c.data,
);

export function createCommands(deps: CommandDeps): CommandModule[] {
  return COMMANDS.map((c) => c.create(deps));
}
