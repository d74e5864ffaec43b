import { pathToFileURL } from 'node:url';
import {
  ApplicationIntegrationType,
  InteractionContextType,
  REST,
  Routes,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import { commandDefinitions } from './commands/index.js';
import { ConfigError, loadDeployConfig, readEnvironment, type DeployConfig } from './config.js';

/**
 * Guild commands (instant, for development) omit installation fields; global ones are guild-installed
 * only, and usable in DMs only when ALLOW_DMS is on (DESIGN §2), unless the command itself names its
 * contexts (`/veo-admin` is guild only whatever ALLOW_DMS says).
 */
export function commandsBody(
  config: Pick<DeployConfig, 'devGuildId' | 'allowDms'>,
): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  if (config.devGuildId) {
    return commandDefinitions.map((c) => {
      const guildCommand = { ...c };
      delete guildCommand.contexts;
      delete guildCommand.integration_types;
      return guildCommand;
    });
  }
  return commandDefinitions.map((c) => ({
    ...c,
    integration_types: [ApplicationIntegrationType.GuildInstall],
    contexts:
      c.contexts ??
      (config.allowDms ? [InteractionContextType.Guild, InteractionContextType.BotDM] : [InteractionContextType.Guild]),
  }));
}

export async function deployCommands(config: DeployConfig): Promise<{ route: string; count: number }> {
  const rest = new REST({ api: config.discordApiBaseUrl, timeout: 30_000 }).setToken(config.discordToken);
  const route = config.devGuildId
    ? Routes.applicationGuildCommands(config.applicationId, config.devGuildId)
    : Routes.applicationCommands(config.applicationId);
  const registered = (await rest.put(route, { body: commandsBody(config) })) as unknown[];
  return { route, count: registered.length };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const config = loadDeployConfig(readEnvironment());
    const { count } = await deployCommands(config);
    console.log(
      config.devGuildId
        ? `Registered ${count} command(s) in server ${config.devGuildId}; they are usable now.`
        : `Registered ${count} global command(s); Discord may take up to an hour to show them everywhere.`,
    );
  } catch (error) {
    console.error(
      error instanceof ConfigError
        ? error.message
        : `deploy-commands failed: ${error instanceof Error ? error.message : 'unknown error'}`,
    );
    process.exit(1);
  }
}
