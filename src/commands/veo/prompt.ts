import {
  ApplicationCommandOptionType,
  type APIApplicationCommandSubcommandOption,
  type ChatInputCommandInteraction,
} from 'discord.js';
import type { CommandDeps } from '../types.js';
import { landscapeOrPortrait, landscapeOrPortraitOf, readSharedOptions, sharedOptions } from './options.js';
import { acceptJob } from './accept.js';

export const promptSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'prompt',
  description: 'Turn a text prompt into an 8-second video',
  options: [sharedOptions.prompt, sharedOptions.model, landscapeOrPortrait, sharedOptions.seed, sharedOptions.private],
} satisfies APIApplicationCommandSubcommandOption;

export async function executePrompt(interaction: ChatInputCommandInteraction, deps: CommandDeps): Promise<void> {
  const shared = await readSharedOptions(interaction, deps);
  const aspectRatio = landscapeOrPortraitOf(shared);
  const job = await acceptJob(interaction, deps, {
    options: { prompt: shared.prompt, model: shared.model, aspectRatio, seed: shared.seed, imageUrls: [] },
    private: shared.private,
  });
  deps.runner.enqueue(job);
}
