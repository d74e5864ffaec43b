import {
  MessageFlags,
  PermissionFlagsBits,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type ModalSubmitInteraction,
  type PermissionsBitField,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { t, type MessageKey } from '../../i18n/index.js';
import { newJobId } from '../../lib/jobId.js';
import { matchesFilter } from '../../lib/wordFilter.js';
import { budget } from '../../lib/deadline.js';
import { relativeTime } from '../../lib/format.js';
import { newJobRecord, type JobOptions, type JobRecord } from '../../services/jobs/record.js';
import type { VeoModel } from '../../lib/models.js';
import type { CreditReservation } from '../../services/quota/credits.js';
import type { ReserveResult } from '../../services/quota/service.js';
import type { CommandDeps } from '../types.js';
import type { QuotaScope } from '../../services/quota/ledger.js';

/** Every interaction that can start a job: a command, a Rerun click, an Extend modal. */
export type JobInteraction = ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction;

type StoreBudget = <T>(work: Promise<T>) => Promise<T>;
const ackBudgets = new WeakMap<JobInteraction, StoreBudget>();

/**
 * The one store budget of an interaction until its acknowledgement (STORE_TIMEOUT_MS): the member's
 * defaults, the reservations and the record all share it, so the member hears back within Discord's 3 s.
 */
export function ackBudget(interaction: JobInteraction, deps: Pick<CommandDeps, 'config' | 'clock'>): StoreBudget {
  let shared = ackBudgets.get(interaction);
  if (!shared) {
    shared = budget(deps.config.storeTimeoutMs, () => deps.clock.now());
    ackBudgets.set(interaction, shared);
  }
  return shared;
}

/** The permissions the bot lacks in this channel, by the names members see in Discord (in their language). */
export function missingPermissions(appPermissions: PermissionsBitField, inThread: boolean, locale = 'en-US'): string[] {
  const needed: Array<readonly [bigint, MessageKey]> = [
    [PermissionFlagsBits.ViewChannel, 'permission.view_channel'],
    inThread
      ? [PermissionFlagsBits.SendMessagesInThreads, 'permission.send_messages_in_threads']
      : [PermissionFlagsBits.SendMessages, 'permission.send_messages'],
    [PermissionFlagsBits.EmbedLinks, 'permission.embed_links'],
    [PermissionFlagsBits.AttachFiles, 'permission.attach_files'],
    // Without it the search for a post made before a crash sees nothing, and the post could be made twice.
    [PermissionFlagsBits.ReadMessageHistory, 'permission.read_message_history'],
  ];
  return needed.filter(([bit]) => !appPermissions.has(bit, false)).map(([, key]) => t(locale, key));
}

/**
 * The refusals of DESIGN §1.4 that need no quota read, in order: DMs, the bot's permissions here,
 * kie paused. They use the payload alone, so they fit well inside Discord's 3 s.
 */
export function preflight(interaction: JobInteraction, deps: CommandDeps): void {
  if (!interaction.guildId) {
    if (!deps.config.allowDms) throw new UserFacingError('refusal.dm_disabled');
  } else {
    if (!deps.isGuildCached(interaction.guildId)) throw new UserFacingError('refusal.not_member');
    const inThread = interaction.channel?.isThread() ?? false;
    const missing = missingPermissions(interaction.appPermissions, inThread, interaction.locale);
    if (missing.length > 0)
      throw new UserFacingError('refusal.missing_permissions', { permissions: missing.join(', ') });
  }
  const paused = deps.kie.circuit.pauseReason();
  if (paused) throw new UserFacingError(paused === 'credits' ? 'refusal.paused_credits' : 'refusal.paused_maintenance');
}

/** The bot's own daily credit budget is spent (DESIGN §1.4, after kie paused): when it frees up, or never. */
export function creditRefusal(result: Extract<CreditReservation, { ok: false }>, model: VeoModel): UserFacingError {
  if (result.retryAt === null) return new UserFacingError('refusal.credits_never', { model });
  return new UserFacingError('refusal.credits', { when: relativeTime(result.retryAt) });
}

/**
 * The member's refusals (blocked -> budget -> active jobs -> quota -> the day across servers, DESIGN
 * §1.4), each saying when to retry.
 */
export function refusalFor(result: Extract<ReserveResult, { ok: false }>, model: VeoModel): UserFacingError {
  const keys: Record<typeof result.reason, MessageKey> = {
    blocked: 'refusal.blocked',
    budget: 'refusal.budget',
    active_jobs: 'refusal.active_jobs',
    quota: 'refusal.quota',
    daily: result.retryAt === null ? 'refusal.daily_never' : 'refusal.daily',
    model_unavailable: result.available.length > 0 ? 'refusal.model_unavailable' : 'refusal.no_model_available',
  };
  return new UserFacingError(keys[result.reason], {
    when: result.retryAt === null ? '' : relativeTime(result.retryAt),
    model,
    cost: result.cost,
    remaining: result.remaining,
    limit: result.limit,
    max: result.maxActiveJobs,
    available: result.available.join(', '),
  });
}

export interface JobRequest {
  readonly options: JobOptions;
  readonly private: boolean;
}

/** The record of a job accepted from this interaction, before anything is sent anywhere. */
function recordOf(interaction: JobInteraction, request: JobRequest, id: string, units: number, now: number): JobRecord {
  // A modal submit's channel is typed as optional; every job needs one to post in.
  if (interaction.channelId === null) throw new UserFacingError('error.generic');
  return newJobRecord(
    {
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
        attachmentSizeLimit: interaction.attachmentSizeLimit ?? null,
      },
      options: request.options,
      units,
    },
    now,
  );
}

/**
 * The refusals that read the store, in DESIGN §1.4's order: the bot's credit budget, the server's prompt
 * filter, then the member's own (quota.reserve). Each reserves as it passes; a later refusal gives back
 * what an earlier one held.
 */
async function reserveJob(scope: QuotaScope, deps: CommandDeps, jobId: string, options: JobOptions): Promise<number> {
  const { model } = options;
  const credits = await deps.credits.reserve(jobId, { kind: 'video', model }, scope.guildId);
  if (!credits.ok) throw creditRefusal(credits, model);
  try {
    // Names nothing but the fact (DESIGN §1.8): quoting the entry would teach the way around it.
    const filter = scope.guildId === null ? undefined : (await deps.guildSettings.get(scope.guildId)).filter;
    if (filter && matchesFilter(options.prompt, filter)) throw new UserFacingError('refusal.filtered');
    const reservation = await deps.quota.reserve(scope, jobId, model);
    if (!reservation.ok) throw refusalFor(reservation, model);
    return reservation.units;
  } catch (error) {
    await deps.credits.refund(jobId);
    throw error;
  }
}

/**
 * The job's options as this server makes them: its watermark (DESIGN §1.8) on every job made here, whatever
 * a Rerun or Extend copied from an older one; none in DMs.
 */
async function withServerWatermark(
  options: JobOptions,
  guildId: string | null,
  deps: CommandDeps,
): Promise<JobOptions> {
  const watermark = guildId === null ? undefined : (await deps.guildSettings.get(guildId)).watermark;
  return { ...options, watermark };
}

/**
 * The accepted path shared by every generating command: refusals, the reservations, the record, then
 * the defer that makes the reply the job's one message. Returns the stored job, not yet submitted.
 */
export async function acceptJob(
  interaction: JobInteraction,
  deps: CommandDeps,
  request: JobRequest,
): Promise<JobRecord> {
  const { jobs, clock } = deps;
  preflight(interaction, deps);
  const jobId = newJobId();
  deps.runner.claim(jobId);
  const scope = { guildId: interaction.guildId, userId: interaction.user.id };
  const beforeAck = ackBudget(interaction, deps);
  const unanswered = (error: unknown): UserFacingError => {
    // A reservation or record that lands after we gave up is undone in the background.
    deps.runner.abandon(jobId, scope);
    deps.logger.warn(
      { jobId, interactionId: interaction.id, err: error },
      'store did not answer before the acknowledgement; nothing charged',
    );
    return new UserFacingError('error.store_unavailable');
  };
  let units: number;
  let options: JobOptions;
  try {
    units = await beforeAck(reserveJob(scope, deps, jobId, request.options));
    options = await beforeAck(withServerWatermark(request.options, interaction.guildId, deps));
  } catch (error) {
    // A refusal is the member's answer; anything else is the store not answering in time.
    if (error instanceof UserFacingError) throw error;
    throw unanswered(error);
  }
  const record = recordOf(interaction, { ...request, options }, jobId, units, clock.now());
  try {
    await beforeAck(jobs.create(record));
  } catch (error) {
    throw unanswered(error);
  }
  let messageId: string | null;
  try {
    const response = await interaction.deferReply({
      withResponse: true,
      ...(request.private ? { flags: MessageFlags.Ephemeral } : {}),
    });
    messageId = response.resource?.message?.id ?? null;
  } catch (error) {
    // Never acknowledged: nobody waits on this job, so it ends here at no cost (and without its token).
    deps.runner.abandon(jobId, scope);
    throw error;
  }
  let stored: JobRecord = { ...record, messageId };
  try {
    stored = await jobs.update(jobId, (j) => ({ ...j, messageId }));
  } catch (error) {
    // The job goes on: the runner writes the message id in its first step.
    deps.logger.warn({ jobId, err: error }, 'could not record the job message; the runner will');
  }
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
