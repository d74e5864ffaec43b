import {
  ButtonStyle,
  ComponentType,
  escapeMarkdown,
  messageLink,
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
} from 'discord.js';
import { t, type MessageKey } from '../../i18n/index.js';
import { CustomIdPrefix, encodeCustomId } from '../../lib/customId.js';
import { formatBytes, relativeTime, truncate } from '../../lib/format.js';
import type { JobRecord } from '../jobs/record.js';
import type { MessageView } from './rest.js';

const EMBED_PROMPT_MAX = 1000;
export const COLOR_WORKING = 0x5865f2;
const COLOR_DONE = 0x57f287;
const COLOR_FAILED = 0xed4245;

/** "45 s" or "3 min", in the member's language. */
export function formatDuration(locale: string, ms: number): string {
  const seconds = Math.max(1, Math.round(ms / 1000));
  if (seconds < 90) return t(locale, 'duration.seconds', { n: seconds });
  return t(locale, 'duration.minutes', { n: Math.round(seconds / 60) });
}

/**
 * A member's prompt as the bot shows it (DESIGN §1.10): every Discord markdown escaped, masked links and
 * headings and lists included (not escaped by default), then cut to `max` characters.
 */
export function shownPrompt(prompt: string, max: number): string {
  const escaped = escapeMarkdown(prompt, { heading: true, bulletedList: true, numberedList: true, maskedLink: true });
  return truncate(escaped, max);
}

export interface EmbedField {
  name: string;
  value: string;
  inline: boolean;
}

function jobEmbed(job: JobRecord, color: number, footer?: string, extra: readonly EmbedField[] = []): APIEmbed {
  const { locale, options } = job;
  const fields: EmbedField[] = [
    { name: t(locale, 'field.model'), value: options.model, inline: true },
    { name: t(locale, 'field.aspect'), value: options.aspectRatio, inline: true },
  ];
  if (options.seed !== null) fields.push({ name: t(locale, 'field.seed'), value: String(options.seed), inline: true });
  fields.push(...extra);
  return {
    description: shownPrompt(options.prompt, EMBED_PROMPT_MAX),
    color,
    fields,
    ...(footer ? { footer: { text: footer } } : {}),
  };
}

/** Every message but the one mention pings nobody. */
export const quiet = { parse: [] } as const;

export interface StatusExtras {
  readonly position?: number | null;
  /** The median duration of recent jobs of the same kind; null or absent: no expectation is shown. */
  readonly expectedMs?: number | null;
}

/** The status embed's live facts: the queue position, the start, and when the video is expected. */
function statusFields(job: JobRecord, extras: StatusExtras): EmbedField[] {
  const { locale } = job;
  const fields: EmbedField[] = [];
  if (job.state === 'queued' && extras.position) {
    fields.push({ name: t(locale, 'field.queue'), value: String(extras.position), inline: true });
  }
  if (job.state === 'generating' && job.submittedAt !== null) {
    fields.push({ name: t(locale, 'field.started'), value: relativeTime(job.submittedAt), inline: true });
    if (extras.expectedMs) {
      const value = t(locale, 'status.eta', {
        eta: relativeTime(job.submittedAt + extras.expectedMs),
        duration: formatDuration(locale, extras.expectedMs),
      });
      fields.push({ name: t(locale, 'field.eta'), value, inline: true });
    }
  }
  return fields;
}

export function renderStatus(job: JobRecord, extras: StatusExtras = {}): MessageView {
  const { locale } = job;
  let content: string;
  if (job.state === 'queued') content = t(locale, 'status.queued', { position: extras.position ?? 1 });
  else if (job.state === 'submitting') content = t(locale, 'status.submitting');
  else if (job.state === 'delivering') content = t(locale, 'status.delivering');
  else {
    content = t(locale, job.options.extend ? 'status.extending' : 'status.generating', {
      model: job.options.model,
      aspect: job.options.aspectRatio,
      started: relativeTime(job.submittedAt ?? job.createdAt),
    });
  }
  return {
    content,
    embeds: [jobEmbed(job, COLOR_WORKING, undefined, statusFields(job, extras))],
    components: [],
    allowedMentions: quiet,
  };
}

export interface ResultExtras {
  readonly attached: boolean;
  readonly limitBytes: number;
  readonly unitsLeft?: { readonly remaining: number; readonly limit: number } | null;
}

/**
 * Two rows (Discord allows five buttons per row): the bot's own actions (1080P, 4K, Rerun, Extend,
 * Details), then the link to the source file, the one part made from kie's words, which the send ladder
 * drops whole when Discord refuses it.
 */
export function resultButtons(job: JobRecord): APIActionRowComponent<APIButtonComponent>[] {
  const url = job.resultUrls[0];
  const button = (
    prefix: CustomIdPrefix,
    key: MessageKey,
    style: ButtonStyle.Primary | ButtonStyle.Secondary,
  ): APIButtonComponent => ({
    type: ComponentType.Button,
    style,
    label: t(job.locale, key),
    custom_id: encodeCustomId(prefix, job.id),
  });
  const actions: APIButtonComponent[] = [
    button(CustomIdPrefix.Upscale1080p, 'button.hd', ButtonStyle.Primary),
    button(CustomIdPrefix.Upscale4k, 'button.uhd', ButtonStyle.Primary),
    button(CustomIdPrefix.Rerun, 'button.rerun', ButtonStyle.Secondary),
    button(CustomIdPrefix.Extend, 'button.extend', ButtonStyle.Secondary),
    button(CustomIdPrefix.Details, 'button.details', ButtonStyle.Secondary),
  ];
  const rows: APIActionRowComponent<APIButtonComponent>[] = [{ type: ComponentType.ActionRow, components: actions }];
  if (url) {
    const link: APIButtonComponent = {
      type: ComponentType.Button,
      style: ButtonStyle.Link,
      label: t(job.locale, 'button.open'),
      url,
    };
    rows.push({ type: ComponentType.ActionRow, components: [link] });
  }
  return rows;
}

export function renderResult(job: JobRecord, extras: ResultExtras): MessageView {
  const { locale } = job;
  const lines = [t(locale, job.late ? 'result.ready_late' : 'result.ready')];
  if (!extras.attached) {
    lines.push(t(locale, 'result.too_large', { limit: formatBytes(extras.limitBytes) }));
    if (job.resultUrls[0]) lines.push(job.resultUrls[0]);
  }
  const footer = extras.unitsLeft ? t(locale, 'result.units_left', extras.unitsLeft) : undefined;
  return {
    content: lines.join('\n'),
    embeds: [jobEmbed(job, COLOR_DONE, footer)],
    components: resultButtons(job),
    allowedMentions: quiet,
  };
}

export function renderFailure(job: JobRecord): MessageView {
  const { locale } = job;
  const failure = job.failure ?? { reason: 'unknown' as const, policyText: null };
  const reasonKey = `failed.${failure.reason}` as MessageKey;
  const lines = [t(locale, 'failed.title'), t(locale, reasonKey, { policy: failure.policyText ?? '' })];
  if (job.refunded && job.units > 0) lines.push(t(locale, 'failed.refunded', { units: job.units }));
  return { content: lines.join('\n'), embeds: [jobEmbed(job, COLOR_FAILED)], components: [], allowedMentions: quiet };
}

/** The one message that pings: an edit notifies nobody, so a slow job earns a mention. */
export function renderMention(job: JobRecord, link: string): MessageView {
  return {
    content: t(job.locale, 'result.mention', { user: job.requesterId, link }),
    embeds: [],
    components: [],
    allowedMentions: { users: [job.requesterId] },
  };
}

export function renderNotice(
  locale: string,
  key: MessageKey,
  params: Record<string, string | number> = {},
): MessageView {
  return { content: t(locale, key, params), embeds: [], components: [], allowedMentions: quiet };
}

/** A link to one of the job's messages in its channel (DMs: `@me`). */
export function jobMessageLink(job: Pick<JobRecord, 'guildId' | 'channelId'>, messageId: string): string {
  return job.guildId === null
    ? messageLink(job.channelId, messageId)
    : messageLink(job.channelId, messageId, job.guildId);
}
