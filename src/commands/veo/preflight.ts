import {
  PermissionFlagsBits,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type ModalSubmitInteraction,
  type PermissionsBitField,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { t, type MessageKey } from '../../i18n/index.js';
import { relativeTime } from '../../lib/render.js';
import type { VeoModel } from '../../services/kie/types.js';
import type { ReserveResult } from '../../services/quota.js';
import type { CommandDeps } from '../types.js';

/** Every interaction that can start a job: a command, a Rerun click, an Extend modal. */
export type JobInteraction = ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction;

/** The permissions the bot lacks in this channel, by the names members see in Discord (in their language). */
export function missingPermissions(appPermissions: PermissionsBitField, inThread: boolean, locale = 'en-US'): string[] {
  const needed: Array<readonly [bigint, MessageKey]> = [
    [PermissionFlagsBits.ViewChannel, 'permission.view_channel'],
    inThread
      ? [PermissionFlagsBits.SendMessagesInThreads, 'permission.send_messages_in_threads']
      : [PermissionFlagsBits.SendMessages, 'permission.send_messages'],
    [PermissionFlagsBits.EmbedLinks, 'permission.embed_links'],
    [PermissionFlagsBits.AttachFiles, 'permission.attach_files'],
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
    if (missing.length > 0) throw new UserFacingError('refusal.missing_permissions', { permissions: missing.join(', ') });
  }
  const paused = deps.kie.circuit.pauseReason();
  if (paused) throw new UserFacingError(paused === 'credits' ? 'refusal.paused_credits' : 'refusal.paused_maintenance');
}

/** The quota refusals (blocked -> budget -> active jobs -> quota, DESIGN §1.4), each saying when to retry. */
export function refusalFor(result: Extract<ReserveResult, { ok: false }>, model: VeoModel): UserFacingError {
  const keys: Record<typeof result.reason, MessageKey> = {
    blocked: 'refusal.blocked',
    budget: 'refusal.budget',
    active_jobs: 'refusal.active_jobs',
    quota: 'refusal.quota',
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
