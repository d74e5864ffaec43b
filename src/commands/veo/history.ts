import {
  ApplicationCommandOptionType,
  MessageFlags,
  type APIApplicationCommandSubcommandOption,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { jobMessageLink } from '../../services/delivery/views.js';
import { renderJobList, type JobListEntry } from './views.js';
import type { JobRecord } from '../../services/jobs/record.js';
import { KieHttpError } from '../../services/kie/errors.js';
import type { CommandDeps } from '../types.js';

export const jobsSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'jobs',
  description: 'Your last 10 videos on this server, with their state, age and links',
} satisfies APIApplicationCommandSubcommandOption;

export const JOBS_LISTED = 10;
const DAY_MS = 24 * 60 * 60_000;
/** A link older than this is checked with kie before it is offered again. */
export const LINK_REFRESH_AFTER_MS = DAY_MS;
/** kie deletes results after 14 days. */
export const KIE_RETENTION_MS = 14 * DAY_MS;

/** The job's message when a member can open it: not ephemeral, not in a DM. */
function messageUrlOf(job: JobRecord): string | null {
  if (job.private || job.guildId === null) return null;
  if (job.deliveryAttempts.some((a) => a.via === 'dm')) return null;
  const id = job.deliveredMessageId ?? job.messageId;
  return id ? jobMessageLink(job, id) : null;
}

/** kie answers 422 ("record is null", "only records within 14 days") or 404 for a task it no longer has. */
function isGoneAtKie(error: unknown): boolean {
  return error instanceof KieHttpError && (error.apiCode === 422 || error.apiCode === 404);
}

async function listEntry(job: JobRecord, now: number, deps: CommandDeps): Promise<JobListEntry> {
  const messageUrl = messageUrlOf(job);
  // Only a video that was made is offered: a failed job's URL may be one the fetch guard refused.
  const made = job.state === 'delivered' || job.state === 'undeliverable';
  const stored = made ? (job.resultUrls[0] ?? null) : null;
  if (stored === null || job.taskId === null) return { job, messageUrl, videoUrl: null, videoExpired: false };
  const madeAt = job.submittedAt ?? job.createdAt;
  if (now - madeAt >= KIE_RETENTION_MS) return { job, messageUrl, videoUrl: null, videoExpired: true };
  if (now - (job.finishedAt ?? madeAt) < LINK_REFRESH_AFTER_MS)
    return { job, messageUrl, videoUrl: stored, videoExpired: false };
  try {
    const info = await deps.kie.recordInfo(job.taskId);
    const fresh = info.status === 'succeeded' ? (info.fullResultUrls[0] ?? info.resultUrls[0] ?? null) : null;
    const url = fresh !== null && deps.mayLinkMedia(fresh) ? fresh : null;
    return { job, messageUrl, videoUrl: url, videoExpired: url === null };
  } catch (error) {
    if (isGoneAtKie(error)) return { job, messageUrl, videoUrl: null, videoExpired: true };
    // kie could not be asked just now: the stored link is still the best answer.
    deps.logger.warn({ jobId: job.id, taskId: job.taskId, err: error }, 'could not refresh an old video link');
    return { job, messageUrl, videoUrl: stored, videoExpired: false };
  }
}

/** `/veo jobs`: the caller's last 10 jobs in this server (or DM), newest first, for their eyes only. */
export async function executeJobs(interaction: ChatInputCommandInteraction, deps: CommandDeps): Promise<void> {
  const { guildId } = interaction;
  if (guildId === null && !deps.config.allowDms) throw new UserFacingError('refusal.dm_disabled');
  // Deferred: links older than a day are checked with kie, which may take longer than Discord's 3 s.
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  const recent = (await deps.jobs.ofMember(guildId, interaction.user.id)).slice(-JOBS_LISTED).reverse();
  const now = deps.clock.now();
  const entries = await Promise.all(recent.map((job) => listEntry(job, now, deps)));
  const view = renderJobList(interaction.locale, entries);
  await interaction.editReply({
    ...(view.content ? { content: view.content } : {}),
    embeds: view.embeds,
    allowedMentions: { parse: [] },
  });
}
