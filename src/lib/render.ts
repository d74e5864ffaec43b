import { ButtonStyle, ComponentType, type APIActionRowComponent, type APIButtonComponent, type APIEmbed } from 'discord.js';
import { t, type MessageKey } from '../i18n/index.js';
import type { JobRecord } from '../services/jobRecord.js';
import { CustomIdPrefix, encodeCustomId } from './customId.js';

/** A message as the bot sends it, independent of which endpoint carries it. */
export interface MessageView {
  readonly content: string;
  readonly embeds: APIEmbed[];
  readonly components: APIActionRowComponent<APIButtonComponent>[];
  readonly allowedMentions: { readonly parse: readonly [] } | { readonly users: readonly string[] };
}

const EMBED_PROMPT_MAX = 1000;
const COLOR_WORKING = 0x5865f2;
const COLOR_DONE = 0x57f287;
const COLOR_FAILED = 0xed4245;

export function relativeTime(ms: number): string {
  return `<t:${Math.floor(ms / 1000)}:R>`;
}

export function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 1 ? `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

function trimmed(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function jobEmbed(job: JobRecord, color: number, footer?: string): APIEmbed {
  const { locale, options } = job;
  const fields: { name: string; value: string; inline: boolean }[] = [
    { name: t(locale, 'field.model'), value: options.model, inline: true },
    { name: t(locale, 'field.aspect'), value: options.aspectRatio, inline: true },
  ];
  if (options.seed !== null) fields.push({ name: t(locale, 'field.seed'), value: String(options.seed), inline: true });
  return {
    description: trimmed(options.prompt, EMBED_PROMPT_MAX),
    color,
    fields,
    ...(footer ? { footer: { text: footer } } : {}),
  };
}

const quiet = { parse: [] } as const;

export interface StatusExtras {
  readonly position?: number | null;
}

export function statusKey(job: JobRecord, extras: StatusExtras = {}): string {
  if (job.state === 'queued' && extras.position) return `queued:${extras.position}`;
  return job.state;
}

export function renderStatus(job: JobRecord, extras: StatusExtras = {}): MessageView {
  const { locale } = job;
  let content: string;
  if (job.state === 'queued') content = t(locale, 'status.queued', { position: extras.position ?? 1 });
  else if (job.state === 'submitting') content = t(locale, 'status.submitting');
  else if (job.state === 'delivering') content = t(locale, 'status.delivering');
  else {
    content = t(locale, 'status.generating', {
      model: job.options.model,
      aspect: job.options.aspectRatio,
      started: relativeTime(job.submittedAt ?? job.createdAt),
    });
  }
  return { content, embeds: [jobEmbed(job, COLOR_WORKING)], components: [], allowedMentions: quiet };
}

export interface ResultExtras {
  readonly attached: boolean;
  readonly limitBytes: number;
  readonly unitsLeft?: { readonly remaining: number; readonly limit: number } | null;
}

export function resultButtons(job: JobRecord): APIActionRowComponent<APIButtonComponent> {
  const url = job.resultUrls[0];
  const components: APIButtonComponent[] = [
    {
      type: ComponentType.Button,
      style: ButtonStyle.Primary,
      label: t(job.locale, 'button.hd'),
      custom_id: encodeCustomId(CustomIdPrefix.Upscale1080p, job.id),
    },
  ];
  if (url) components.push({ type: ComponentType.Button, style: ButtonStyle.Link, label: t(job.locale, 'button.open'), url });
  return { type: ComponentType.ActionRow, components };
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
    components: [resultButtons(job)],
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

export function messageLink(guildId: string | null, channelId: string, messageId: string): string {
  return `https://discord.com/channels/${guildId ?? '@me'}/${channelId}/${messageId}`;
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

export function renderNotice(locale: string, key: MessageKey, params: Record<string, string | number> = {}): MessageView {
  return { content: t(locale, key, params), embeds: [], components: [], allowedMentions: quiet };
}
