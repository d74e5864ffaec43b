import { userMention } from 'discord.js';
import { t, type MessageKey } from '../../i18n/index.js';
import { absoluteTime, relativeTime } from '../../lib/format.js';
import type { MessageView } from '../../services/delivery/rest.js';
import {
  COLOR_WORKING,
  formatDuration,
  quiet,
  renderNotice,
  shownPrompt,
  type EmbedField,
} from '../../services/delivery/views.js';
import type { JobRecord, JobState } from '../../services/jobs/record.js';
import type { VeoModel } from '../../lib/models.js';
import type { QuotaLimits } from '../../services/quota/limits.js';
import type { QuotaStatus, ServerUsage } from '../../services/quota/service.js';

export const STATE_KEYS: Readonly<Record<JobState, MessageKey>> = {
  queued: 'state.queued',
  submitting: 'state.submitting',
  generating: 'state.generating',
  delivering: 'state.delivering',
  delivered: 'state.delivered',
  undeliverable: 'state.undeliverable',
  failed: 'state.failed',
  failed_unknown: 'state.failed',
};

/** The Details button's answer, for the clicker's eyes only and in the clicker's language. */
export function renderDetails(job: JobRecord, locale: string): MessageView {
  const { options } = job;
  const inline = (key: MessageKey, value: string): EmbedField => ({ name: t(locale, key), value, inline: true });
  const fields: EmbedField[] = [
    inline('field.model', options.model),
    inline('field.aspect', options.aspectRatio),
    inline('field.seed', options.seed === null ? t(locale, 'details.seed_random') : String(options.seed)),
    inline('field.state', t(locale, STATE_KEYS[job.state])),
    inline('field.requester', userMention(job.requesterId)),
    inline('field.task', job.taskId === null ? '—' : `\`${job.taskId}\``),
  ];
  if (options.extend) fields.push(inline('field.extends', `\`${options.extend.taskId}\``));
  fields.push(inline('field.requested', `${absoluteTime(job.createdAt)} · ${relativeTime(job.createdAt)}`));
  if (job.submittedAt !== null)
    fields.push(inline('field.started', `${absoluteTime(job.submittedAt)} · ${relativeTime(job.submittedAt)}`));
  if (job.finishedAt !== null) {
    const took = job.submittedAt === null ? '' : ` · ${formatDuration(locale, job.finishedAt - job.submittedAt)}`;
    fields.push(inline('field.finished', `${absoluteTime(job.finishedAt)}${took}`));
  }
  return {
    content: '',
    embeds: [
      {
        title: t(locale, 'details.title'),
        description: shownPrompt(options.prompt, 4000),
        color: COLOR_WORKING,
        fields,
      },
    ],
    components: [],
    allowedMentions: quiet,
  };
}

export interface JobListEntry {
  readonly job: JobRecord;
  /** The job's message in its channel, when there is one a member can open (not ephemeral, not a DM). */
  readonly messageUrl: string | null;
  /** kie's file, when it still has it. */
  readonly videoUrl: string | null;
  /** true when kie's 14 days have passed (or kie no longer knows the task). */
  readonly videoExpired: boolean;
}

const LIST_PROMPT_MAX = 80;

/** `/veo jobs`: newest first, one line each with the state, the age and the links. */
export function renderJobList(locale: string, entries: readonly JobListEntry[]): MessageView {
  if (entries.length === 0) return renderNotice(locale, 'jobs.empty');
  const lines = entries.map(({ job, messageUrl, videoUrl, videoExpired }) => {
    const parts = [
      `**${t(locale, STATE_KEYS[job.state])}**`,
      relativeTime(job.createdAt),
      shownPrompt(job.options.prompt.replace(/\s+/g, ' '), LIST_PROMPT_MAX),
    ];
    if (messageUrl) parts.push(`[${t(locale, 'jobs.message')}](${messageUrl})`);
    if (videoUrl) parts.push(`[${t(locale, 'jobs.video')}](${videoUrl})`);
    else if (videoExpired) parts.push(t(locale, 'jobs.video_expired'));
    return parts.join(' · ');
  });
  return {
    content: '',
    embeds: [
      {
        title: t(locale, 'jobs.title', { count: entries.length }),
        description: lines.join('\n'),
        color: COLOR_WORKING,
      },
    ],
    components: [],
    allowedMentions: quiet,
  };
}

/**
 * "X of Y units left · next unit back <t:…:R>", what running jobs hold, this server's rules, and the
 * member's day across every server when USER_DAILY_UNITS is set.
 */
export function renderQuota(
  locale: string,
  status: QuotaStatus,
  limits: QuotaLimits,
  server: ServerUsage | null,
): string {
  const units = { remaining: status.remaining, limit: status.limit };
  const lines = [
    status.nextUnitAt === null
      ? t(locale, 'quota.units_full', units)
      : t(locale, 'quota.units', { ...units, when: relativeTime(status.nextUnitAt) }),
    t(locale, 'quota.running', { units: status.running, active: status.activeJobs, max: status.maxActiveJobs }),
  ];
  const costs = (Object.entries(limits.costs) as [VeoModel, number][]).map(([model, cost]) =>
    t(locale, limits.available.includes(model) ? 'quota.cost' : 'quota.cost_unavailable', { model, cost }),
  );
  lines.push(t(locale, 'quota.rules', { hours: status.windowHours, costs: costs.join(' · ') }));
  if (server?.budget != null) {
    lines.push(t(locale, 'quota.budget', { remaining: server.remaining ?? 0, budget: server.budget }));
  }
  const { daily } = status;
  if (daily) {
    const units = { remaining: daily.remaining, limit: daily.limit };
    lines.push(
      daily.nextUnitAt === null
        ? t(locale, 'quota.daily', units)
        : t(locale, 'quota.daily_next', { ...units, when: relativeTime(daily.nextUnitAt) }),
    );
  }
  if (status.blocked) lines.push(t(locale, 'refusal.blocked'));
  return lines.join('\n');
}
