import { Events, type Client } from 'discord.js';
import type { Logger } from '../logger.js';
import type { BotEvent } from './types.js';

export interface ReadyDeps {
  readonly logger: Logger;
  /** Resume work a previous process left; runs once per process, not on every reconnect. */
  readonly resume: () => Promise<void>;
}

export function createReadyEvent(deps: ReadyDeps): BotEvent<typeof Events.ClientReady> {
  let resumed = false;
  return {
    name: Events.ClientReady,
    once: true,
    async execute(client: Client<true>) {
      deps.logger.info({ user: client.user.id, guilds: client.guilds.cache.size }, 'connected to Discord');
      if (resumed) return;
      resumed = true;
      try {
        await deps.resume();
      } catch (error) {
        deps.logger.error({ err: error }, 'resuming jobs failed');
      }
    },
  };
}
