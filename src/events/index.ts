import type { Client, ClientEvents } from 'discord.js';

export interface BotEvent<Name extends keyof ClientEvents> {
  readonly name: Name;
  readonly once?: boolean;
  execute(...args: ClientEvents[Name]): Promise<void>;
}

function register<Name extends keyof ClientEvents>(client: Client, event: BotEvent<Name>): () => void {
  const listener = (...args: ClientEvents[Name]) => void event.execute(...args);
  if (event.once) client.once(event.name, listener);
  else client.on(event.name, listener);
  return () => client.off(event.name, listener);
}

/** Attaches each event as it asks (`once` or every time); the returned function detaches them all. */
export function registerEvents(client: Client, events: readonly BotEvent<keyof ClientEvents>[]): () => void {
  const detach = events.map((event) => register(client, event));
  return () => {
    for (const off of detach) off();
  };
}
