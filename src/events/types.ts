import type { ClientEvents } from 'discord.js';

export interface BotEvent<Name extends keyof ClientEvents> {
  readonly name: Name;
  readonly once?: boolean;
  execute(...args: ClientEvents[Name]): Promise<void>;
}
