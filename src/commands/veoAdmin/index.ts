import {
  InteractionContextType,
  PermissionFlagsBits,
  type ChatInputCommandInteraction,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { localizeCommand } from '../../i18n/commands.js';
import type { CommandDeps, CommandEntry, CommandModule } from '../types.js';
import type { AdminInteraction } from './common.js';
import { executeFilter, filterGroup } from './filter.js';
import { executeLogChannel, logChannelSubcommand } from './logChannel.js';
import {
  blockSubcommand,
  executeBlock,
  executeForget,
  executeReset,
  forgetSubcommand,
  resetSubcommand,
  unblockSubcommand,
} from './members.js';
import { budgetSubcommand, executeBudget, executeLimits, limitsSubcommand } from './settings.js';
import { executeStatus, statusSubcommand } from './status.js';
import { executeWatermark, watermarkSubcommand } from './watermark.js';

const MANAGE_GUILD = PermissionFlagsBits.ManageGuild;

/**
 * Guild only (`contexts` is kept on global deploys, dropped on guild ones) and hidden from members without
 * Manage Server by default; `execute` checks the permission again because Discord's Integrations settings
 * let a server show the command to anyone.
 */
const veoAdminCommandData = localizeCommand({
  name: 'veo-admin',
  description: 'Server controls for Veo Bot: limits, members, budget, status',
  default_member_permissions: String(MANAGE_GUILD),
  contexts: [InteractionContextType.Guild],
  options: [
    limitsSubcommand,
    resetSubcommand,
    blockSubcommand,
    unblockSubcommand,
    budgetSubcommand,
    statusSubcommand,
    forgetSubcommand,
    watermarkSubcommand,
    filterGroup,
    logChannelSubcommand,
  ],
} satisfies RESTPostAPIChatInputApplicationCommandsJSONBody);

/** The gate every subcommand passes: in a server, and the caller holds Manage Server there right now. */
function admitted(interaction: ChatInputCommandInteraction): AdminInteraction {
  if (!interaction.inGuild()) throw new UserFacingError('admin.guild_only');
  // Administrator implies Manage Server (`has` checks it by default).
  if (!interaction.memberPermissions.has(MANAGE_GUILD)) throw new UserFacingError('admin.forbidden');
  return interaction;
}

function createVeoAdminCommand(deps: CommandDeps): CommandModule {
  const handlers: Record<string, (interaction: AdminInteraction) => Promise<void>> = {
    limits: (i) => executeLimits(i, deps),
    reset: (i) => executeReset(i, deps),
    block: (i) => executeBlock(i, deps, true),
    unblock: (i) => executeBlock(i, deps, false),
    budget: (i) => executeBudget(i, deps),
    status: (i) => executeStatus(i, deps),
    forget: (i) => executeForget(i, deps),
    watermark: (i) => executeWatermark(i, deps),
    filter: (i) => executeFilter(i, deps),
    'log-channel': (i) => executeLogChannel(i, deps),
  };
  return {
    data: veoAdminCommandData,
    async execute(interaction) {
      const admin = admitted(interaction);
      const handler = handlers[admin.options.getSubcommandGroup() ?? admin.options.getSubcommand(true)];
      if (!handler) throw new UserFacingError('error.generic');
      await handler(admin);
    },
    buttons: {},
  };
}

export const veoAdminCommand: CommandEntry = { data: veoAdminCommandData, create: createVeoAdminCommand };
