import { MessageFlags } from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { newJobId } from '../../lib/jobId.js';
import type { JobOptions, JobRecord } from '../../services/jobRecord.js';
import type { CommandDeps } from '../types.js';
import { preflight, refusalFor, type JobInteraction } from './preflight.js';

export interface JobRequest {
  readonly options: JobOptions;
  readonly private: boolean;
}

/** Builds the record of a job accepted from this interaction, before anything is sent anywhere. */
export function newJobRecord(interaction: JobInteraction, request: JobRequest, id: string, units: number, now: number): JobRecord {
  // A modal submit's channel is typed as optional; every job needs one to post in.
  if (interaction.channelId === null) throw new UserFacingError('error.generic');
  return {
    id,
    requesterId: interaction.user.id,
    guildId: interaction.guildId,
    channelId: interaction.channelId,
    locale: interaction.locale,
    private: request.private,
    interaction: {
      id: interaction.id,
      token: interaction.token,
      createdAt: interaction.createdTimestamp,
      tokenDead: false,
      attachmentSizeLimit: interaction.attachmentSizeLimit ?? null,
    },
    messageId: null,
    options: request.options,
    units,
    state: 'queued',
    createdAt: now,
    updatedAt: now,
    submittedAt: null,
    finishedAt: null,
    taskId: null,
    resultUrls: [],
    failure: null,
    refunded: false,
    lateUntil: null,
    late: false,
    deliveryAttempts: [],
    deliveredMessageId: null,
    deliveryFailures: 0,
    firstDeliveryFailureAt: null,
    status: null,
    hd: null,
  };
}

/**
 * The accepted path shared by every generating command: refusals, the quota reservation, the record,
 * then the defer that makes the reply the job's one message. Returns the stored job, not yet submitted.
 */
export async function acceptJob(
  interaction: JobInteraction,
  deps: CommandDeps,
  request: JobRequest,
): Promise<JobRecord> {
  const { jobs, quota, clock } = deps;
  preflight(interaction, deps);
  const jobId = newJobId();
  deps.runner.claim(jobId);
  const scope = { guildId: interaction.guildId, userId: interaction.user.id };
  const reservation = await quota.reserve(scope, jobId, request.options.model);
  if (!reservation.ok) throw refusalFor(reservation, request.options.model);

  try {
    await jobs.create(newJobRecord(interaction, request, jobId, reservation.units, clock.now()));
  } catch (error) {
    await quota.refund(scope, jobId);
    throw error;
  }
  let messageId: string | null;
  try {
    const response = await interaction.deferReply({
      withResponse: true,
      ...(request.private ? { flags: MessageFlags.Ephemeral } : {}),
    });
    messageId = response.resource?.message?.id ?? null;
  } catch (error) {
    // Never acknowledged: nobody waits on this job, so it ends here at no cost.
    await jobs.update(jobId, (j) => ({ ...j, state: 'failed', failure: { reason: 'unknown', policyText: null } }));
    await quota.refund(scope, jobId);
    throw error;
  }
  const stored = await jobs.update(jobId, (j) => ({ ...j, messageId }));
  deps.logger.info(
    {
      jobId,
      interactionId: interaction.id,
      model: request.options.model,
      promptLength: request.options.prompt.length,
      guildId: interaction.guildId,
    },
    'job accepted',
  );
  return stored;
}
