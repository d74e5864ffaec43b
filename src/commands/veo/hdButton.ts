import { MessageFlags, type ButtonInteraction } from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { t } from '../../i18n/index.js';
import type { CommandDeps } from '../types.js';

/** The 1080P button (DESIGN §5): the job's state is read before anything is answered. */
export async function onHdClick(interaction: ButtonInteraction, jobId: string, deps: CommandDeps): Promise<void> {
  const claim = await deps.hd.claim(jobId, {
    interactionId: interaction.id,
    token: interaction.token,
    channelId: interaction.channelId,
    userId: interaction.user.id,
    attachmentSizeLimit: interaction.attachmentSizeLimit ?? null,
    locale: interaction.locale,
  });
  const ephemeral = { flags: MessageFlags.Ephemeral } as const;
  if (claim.kind === 'missing') throw new UserFacingError('error.job_not_found');
  if (claim.kind === 'not_ready') throw new UserFacingError('hd.not_ready');
  if (claim.kind === 'already') {
    await interaction.reply({ content: t(interaction.locale, 'hd.already'), ...ephemeral });
    return;
  }
  if (claim.kind === 'ready') {
    await interaction.reply({ content: t(interaction.locale, 'hd.ready', { url: claim.url }), ...ephemeral });
    return;
  }
  let replyId: string | null;
  try {
    const response = await interaction.deferReply({ withResponse: true, ...(claim.job.private ? ephemeral : {}) });
    replyId = response.resource?.message?.id ?? null;
  } catch (error) {
    await deps.hd.release(jobId);
    throw error;
  }
  await deps.hd.start(jobId, replyId);
}
