import {
  ApplicationCommandOptionType,
  type APIApplicationCommandSubcommandOption,
  type ChatInputCommandInteraction,
} from 'discord.js';
import type { AspectRatio } from '../../services/kie/types.js';
import type { CommandDeps } from '../types.js';
import { readSharedOptions, sharedOptions } from './options.js';
import { acceptJob } from './accept.js';

export const promptSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'prompt',
  description: 'Turn a text prompt into an 8-second video',
  options: [
    sharedOptions.prompt,
    sharedOptions.model,
    {
      type: ApplicationCommandOptionType.String,
      name: 'aspect',
      description: 'Aspect ratio (default 16:9)',
      choices: [
        { name: '16:9 landscape', value: '16:9' },
        { name: '9:16 portrait', value: '9:16' },
      ],
    },
    sharedOptions.seed,
    sharedOptions.private,
  ],
} satisfies APIApplicationCommandSubcommandOption;

const ASPECTS: ReadonlySet<string> = new Set<AspectRatio>(['16:9', '9:16']);

export async function executePrompt(interaction: ChatInputCommandInteraction, deps: CommandDeps): Promise<void> {
  const shared = await readSharedOptions(interaction, deps);
  const aspectRatio: AspectRatio =
    shared.aspect !== null && ASPECTS.has(shared.aspect) ? (shared.aspect as AspectRatio) : '16:9';
  const job = await acceptJob(interaction, deps, {
    options: { prompt: shared.prompt, model: shared.model, aspectRatio, seed: shared.seed, imageUrls: [] },
    private: shared.private,
  });
  deps.runner.enqueue(job);
}
