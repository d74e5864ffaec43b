import {
  ApplicationCommandOptionType,
  type APIApplicationCommandSubcommandOption,
  type ChatInputCommandInteraction,
} from 'discord.js';
import type { AspectRatio } from '../../services/kie/types.js';
import type { CommandDeps } from '../types.js';
import { readSharedOptions, sharedOptions } from './options.js';
import { acceptJob } from './accept.js';
import { queueWithPictures, readPictures } from './pictures.js';

export const animateSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'animate',
  description: 'Bring a picture to life as an 8-second video',
  options: [
    {
      type: ApplicationCommandOptionType.Attachment,
      name: 'image',
      description: 'The picture to animate, used as the first frame (JPEG, PNG or WebP)',
      required: true,
    },
    sharedOptions.prompt,
    {
      type: ApplicationCommandOptionType.Attachment,
      name: 'end_image',
      description: 'A picture to end on, used as the last frame (JPEG, PNG or WebP)',
    },
    sharedOptions.model,
    {
      type: ApplicationCommandOptionType.String,
      name: 'aspect',
      description: 'Aspect ratio (default Auto: whichever the picture is closer to)',
      choices: [
        { name: 'Auto (follow the picture)', value: 'Auto' },
        { name: '16:9 landscape', value: '16:9' },
        { name: '9:16 portrait', value: '9:16' },
      ],
    },
    sharedOptions.seed,
    sharedOptions.private,
  ],
} satisfies APIApplicationCommandSubcommandOption;

const ASPECTS: ReadonlySet<string> = new Set<AspectRatio>(['Auto', '16:9', '9:16']);
const IMAGE_OPTIONS = ['image', 'end_image'] as const;

export async function executeAnimate(interaction: ChatInputCommandInteraction, deps: CommandDeps): Promise<void> {
  const attachments = readPictures(interaction, IMAGE_OPTIONS, deps.config.maxImageBytes);
  const shared = await readSharedOptions(interaction, deps);
  const aspectRatio: AspectRatio =
    shared.aspect !== null && ASPECTS.has(shared.aspect) ? (shared.aspect as AspectRatio) : 'Auto';
  const job = await acceptJob(interaction, deps, {
    options: {
      prompt: shared.prompt,
      model: shared.model,
      aspectRatio,
      seed: shared.seed,
      imageUrls: [],
      imagesPending: true,
    },
    private: shared.private,
  });
  await queueWithPictures(job, attachments, 'frames', deps);
}
