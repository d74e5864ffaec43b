import { randomInt } from 'node:crypto';
import {
  ComponentType,
  MessageFlags,
  PermissionFlagsBits,
  TextInputStyle,
  type APIModalInteractionResponseCallbackData,
  type ButtonInteraction,
  type ModalSubmitInteraction,
} from 'discord.js';
import { JobNotFoundError, UserFacingError } from '../../errors.js';
import { t, type MessageKey } from '../../i18n/index.js';
import { CustomIdPrefix, encodeCustomId } from '../../lib/customId.js';
import { renderDetails } from './views.js';
import type { JobRecord } from '../../services/jobs/record.js';
import type { CommandDeps } from '../types.js';
import { PROMPT_MAX, SEED_MAX, SEED_MIN } from './options.js';
import { acceptJob, preflight } from './accept.js';

const HOUR_MS = 60 * 60_000;
/** kie's uploaded pictures last about a day; a rerun must reach kie well before they are deleted. */
export const ANIMATE_RERUN_MAX_AGE_MS = 20 * HOUR_MS;
/** kie serves a task (and so extends it) for 14 days. */
export const EXTEND_MAX_AGE_MS = 14 * 24 * HOUR_MS;
export const EXTEND_PROMPT_FIELD = 'prompt';

type ActionInteraction = ButtonInteraction | ModalSubmitInteraction;

export async function loadJob(deps: CommandDeps, jobId: string): Promise<JobRecord> {
  const job = await deps.jobs.get(jobId);
  if (!job) throw new JobNotFoundError(jobId);
  return job;
}

/** The requester, or a member who holds Manage Server in the job's own server. */
export function mayAct(interaction: ActionInteraction, job: JobRecord): boolean {
  if (interaction.user.id === job.requesterId) return true;
  if (!interaction.inGuild() || interaction.guildId !== job.guildId) return false;
  // Administrator implies Manage Server (`has` checks it by default).
  return interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild);
}

function assertMayAct(interaction: ActionInteraction, job: JobRecord): void {
  if (!mayAct(interaction, job)) throw new UserFacingError('action.not_yours', { user: job.requesterId });
}

/** Why this job cannot be run again, judged from its record alone; null when it can. */
export function rerunRefusal(job: JobRecord, now: number): MessageKey | null {
  const { options } = job;
  const fromPictures = options.imageUrls.length > 0 || options.imagesPending === true;
  if (fromPictures && (options.imagesPending === true || now - job.createdAt > ANIMATE_RERUN_MAX_AGE_MS)) {
    return options.imageRole === 'reference' ? 'action.rerun_references_gone' : 'action.rerun_images_gone';
  }
  if (options.extend && now - options.extend.taskCreatedAt > EXTEND_MAX_AGE_MS) return 'action.extend_too_old';
  return null;
}

/** Why this job's video cannot be extended (kie-veo-api.md §3a, §3c); null when it can. */
export function extendRefusal(job: JobRecord, now: number): MessageKey | null {
  if ((job.state !== 'delivered' && job.state !== 'undeliverable') || job.taskId === null)
    return 'action.extend_not_ready';
  if (now - (job.submittedAt ?? job.createdAt) > EXTEND_MAX_AGE_MS) return 'action.extend_too_old';
  // kie refuses to extend a video once an upgraded version was asked for.
  if (job.hd !== null && job.hd.state !== 'failed') return 'action.extend_hd';
  if (job.uhd && job.uhd.state !== 'failed') return 'action.extend_uhd';
  return null;
}

/** A rerun of an extension extends the same source again: that source must still be extendable. */
async function sourceRefusal(job: JobRecord, deps: CommandDeps): Promise<MessageKey | null> {
  const source = job.options.extend ? await deps.jobs.get(job.options.extend.jobId) : undefined;
  if (source?.hd && source.hd.state !== 'failed') return 'action.extend_hd';
  if (source?.uhd && source.uhd.state !== 'failed') return 'action.extend_uhd';
  return null;
}

/** Rerun: the same prompt and options with a new seed, as a new job charged to the clicker. */
export async function onRerunClick(interaction: ButtonInteraction, jobId: string, deps: CommandDeps): Promise<void> {
  const job = await loadJob(deps, jobId);
  assertMayAct(interaction, job);
  const refusal = rerunRefusal(job, deps.clock.now()) ?? (await sourceRefusal(job, deps));
  if (refusal) throw new UserFacingError(refusal);
  const accepted = await acceptJob(interaction, deps, {
    options: { ...job.options, seed: randomInt(SEED_MIN, SEED_MAX + 1) },
    private: job.private,
  });
  deps.logger.info({ jobId: accepted.id, rerunOf: job.id }, 'rerun accepted');
  deps.runner.enqueue(accepted);
}

export function extendModal(jobId: string, locale: string): APIModalInteractionResponseCallbackData {
  return {
    custom_id: encodeCustomId(CustomIdPrefix.ExtendModal, jobId),
    title: t(locale, 'extend.title'),
    components: [
      {
        type: ComponentType.Label,
        label: t(locale, 'extend.label'),
        description: t(locale, 'extend.description', { max: PROMPT_MAX }),
        component: {
          type: ComponentType.TextInput,
          custom_id: EXTEND_PROMPT_FIELD,
          style: TextInputStyle.Paragraph,
          min_length: 1,
          max_length: PROMPT_MAX,
          required: true,
        },
      },
    ],
  };
}

/** Extend, step 1: everything that can be judged now is judged before the modal opens. */
export async function onExtendClick(interaction: ButtonInteraction, jobId: string, deps: CommandDeps): Promise<void> {
  const job = await loadJob(deps, jobId);
  assertMayAct(interaction, job);
  const refusal = extendRefusal(job, deps.clock.now());
  if (refusal) throw new UserFacingError(refusal);
  preflight(interaction, deps);
  await interaction.showModal(extendModal(job.id, interaction.locale));
}

/** Extend, step 2: the modal's prompt continues the video, charged at the original model's cost. */
export async function onExtendSubmit(
  interaction: ModalSubmitInteraction,
  jobId: string,
  deps: CommandDeps,
): Promise<void> {
  const job = await loadJob(deps, jobId);
  // Judged again: the modal may have stayed open while the video was upgraded or the member lost the role.
  assertMayAct(interaction, job);
  const refusal = extendRefusal(job, deps.clock.now());
  if (refusal || job.taskId === null) throw new UserFacingError(refusal ?? 'action.extend_not_ready');
  const prompt = interaction.fields.getTextInputValue(EXTEND_PROMPT_FIELD).trim();
  if (prompt.length === 0) throw new UserFacingError('refusal.prompt_empty', { max: PROMPT_MAX });
  if (prompt.length > PROMPT_MAX)
    throw new UserFacingError('refusal.prompt_too_long', { length: prompt.length, max: PROMPT_MAX });
  const accepted = await acceptJob(interaction, deps, {
    options: {
      prompt,
      model: job.options.model,
      aspectRatio: job.options.aspectRatio,
      seed: null,
      imageUrls: [],
      extend: { jobId: job.id, taskId: job.taskId, taskCreatedAt: job.submittedAt ?? job.createdAt },
    },
    private: job.private,
  });
  deps.logger.info({ jobId: accepted.id, extendOf: job.id }, 'extend accepted');
  deps.runner.enqueue(accepted);
}

/** Details: for the clicker's eyes only, in the clicker's language. */
export async function onDetailsClick(interaction: ButtonInteraction, jobId: string, deps: CommandDeps): Promise<void> {
  const job = await loadJob(deps, jobId);
  const view = renderDetails(job, interaction.locale);
  await interaction.reply({ embeds: view.embeds, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
}
