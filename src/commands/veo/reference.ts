import {
  ApplicationCommandOptionType,
  type APIApplicationCommandAttachmentOption,
  type APIApplicationCommandSubcommandOption,
  type ChatInputCommandInteraction,
} from 'discord.js';
import type { VeoModel } from '../../lib/models.js';
import type { CommandDeps } from '../types.js';
import { acceptJob } from './accept.js';
import { landscapeOrPortrait, landscapeOrPortraitOf, readSharedOptions, sharedOptions } from './options.js';
import { queueWithPictures, readPictures } from './pictures.js';

/** kie makes REFERENCE_2_VIDEO with Veo 3.1 Fast only (kie-veo-api.md §1; DESIGN §6). */
export const REFERENCE_MODEL: VeoModel = 'veo3_fast';

const IMAGE_OPTIONS = ['image', 'image2', 'image3'] as const;

function referenceOption(name: string, description: string, required = false): APIApplicationCommandAttachmentOption {
  return {
    type: ApplicationCommandOptionType.Attachment,
    name,
    description,
    ...(required ? { required } : {}),
  };
}

export const referenceSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'reference',
  description: 'An 8-second video that features up to three reference pictures (always Veo 3.1 Fast)',
  options: [
    sharedOptions.prompt,
    referenceOption('image', 'A picture of what the video should show; Veo 3.1 Fast only (JPEG, PNG or WebP)', true),
    referenceOption('image2', 'A second reference picture (JPEG, PNG or WebP)'),
    referenceOption('image3', 'A third reference picture (JPEG, PNG or WebP)'),
    landscapeOrPortrait,
    sharedOptions.seed,
    sharedOptions.private,
  ],
} satisfies APIApplicationCommandSubcommandOption;

/** `/veo reference`: each picture checked and re-hosted exactly as `/veo animate`'s, then REFERENCE_2_VIDEO. */
export async function executeReference(interaction: ChatInputCommandInteraction, deps: CommandDeps): Promise<void> {
  const attachments = readPictures(interaction, IMAGE_OPTIONS, deps.config.maxImageBytes);
  // The member's default model does not apply: kie makes reference videos with veo3_fast only.
  const shared = await readSharedOptions(interaction, deps);
  const aspectRatio = landscapeOrPortraitOf(shared);
  const job = await acceptJob(interaction, deps, {
    options: {
      prompt: shared.prompt,
      model: REFERENCE_MODEL,
      aspectRatio,
      seed: shared.seed,
      imageUrls: [],
      imagesPending: true,
      imageRole: 'reference',
    },
    private: shared.private,
  });
  await queueWithPictures(job, attachments, 'reference', deps);
}
