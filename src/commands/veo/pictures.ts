import type { Attachment, ChatInputCommandInteraction } from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { formatBytes } from '../../lib/format.js';
import type { JobRecord } from '../../services/jobs/record.js';
import { declaredImageType } from '../../services/kie/images.js';
import type { ImageRole } from '../../services/kie/types.js';
import type { CommandDeps } from '../types.js';

/** DESIGN §1.1: what an attachment declares is judged before the defer, so a wrong file costs nothing. */
function checkDeclared(option: string, attachment: Attachment, maxBytes: number): void {
  const max = formatBytes(maxBytes);
  if (!declaredImageType(attachment.contentType)) throw new UserFacingError('refusal.image_type', { option, max });
  if (attachment.size > maxBytes) {
    throw new UserFacingError('refusal.image_too_large', { option, size: formatBytes(attachment.size), max });
  }
}

/**
 * The picture options of `/veo animate` and `/veo reference`, in the order they are declared (the first
 * one required), each checked from its declared type and size before anything is reserved or deferred.
 */
export function readPictures(
  interaction: ChatInputCommandInteraction,
  options: readonly string[],
  maxBytes: number,
): Attachment[] {
  const attachments: Attachment[] = [];
  for (const [index, option] of options.entries()) {
    const attachment = interaction.options.getAttachment(option, index === 0);
    if (!attachment) continue;
    checkDeclared(option, attachment, maxBytes);
    attachments.push(attachment);
  }
  return attachments;
}

/**
 * After the defer of a job accepted with `imagesPending`: re-hosts its pictures on kie (through the media
 * fetch guard) and queues it, or ends it in its own message, refunded (DESIGN §1.2).
 */
export async function queueWithPictures(
  job: JobRecord,
  attachments: readonly Attachment[],
  role: ImageRole,
  deps: CommandDeps,
): Promise<void> {
  const prepared = await deps.images.prepare(
    job.id,
    attachments.map((a) => a.url),
    role,
  );
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
