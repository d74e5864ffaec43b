import {
  ApplicationCommandOptionType,
  type APIApplicationCommandSubcommandOption,
  type Attachment,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { formatBytes } from '../../lib/format.js';
import { declaredImageType } from '../../services/kie/images.js';
import type { JobRecord } from '../../services/jobs/record.js';
import type { AspectRatio } from '../../services/kie/types.js';
import type { CommandDeps } from '../types.js';
import { readSharedOptions, sharedOptions } from './options.js';
import { acceptJob } from './accept.js';

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

/** DESIGN §1.1: what the attachment declares is judged before the defer, so a wrong file costs nothing. */
function checkDeclared(option: string, attachment: Attachment, maxBytes: number): void {
  const max = formatBytes(maxBytes);
  if (!declaredImageType(attachment.contentType)) throw new UserFacingError('refusal.image_type', { option, max });
  if (attachment.size > maxBytes) {
    throw new UserFacingError('refusal.image_too_large', { option, size: formatBytes(attachment.size), max });
  }
}

export async function executeAnimate(interaction: ChatInputCommandInteraction, deps: CommandDeps): Promise<void> {
  const attachments: Attachment[] = [];
  for (const option of IMAGE_OPTIONS) {
    const attachment = interaction.options.getAttachment(option, option === 'image');
    if (!attachment) continue;
    checkDeclared(option, attachment, deps.config.maxImageBytes);
    attachments.push(attachment);
  }
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

  // After the defer every failure belongs in the job message, with the refund (DESIGN §1.2).
  const sources = attachments.map((a) => a.url);
  const prepared = await deps.images.prepare(job.id, sources);
  if (!prepared.ok) {
    await deps.runner.failBeforeSubmit(job.id, prepared.reason);
    return;
  }
  let ready: JobRecord;
  try {
    ready = await deps.jobs.update(job.id, (j) => ({
      ...j,
      options: { ...j.options, imageUrls: prepared.urls, imagesPending: false },
    }));
  } catch (error) {
    // Without its pictures on record it must never be submitted; it ends in its message, refunded.
    deps.logger.warn({ jobId: job.id, err: error }, 'could not record the prepared pictures');
    await deps.runner.failBeforeSubmit(job.id, 'image_interrupted');
    return;
  }
  deps.runner.enqueue({ ...ready, messageId: ready.messageId ?? job.messageId });
}
