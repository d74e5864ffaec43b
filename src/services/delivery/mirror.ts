import { messageLink, RESTJSONErrorCodes, userMention, type APIEmbed } from 'discord.js';
import type Keyv from 'keyv';
import { t, type MessageKey } from '../../i18n/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../logger.js';
import { isFinal, type JobRecord } from '../jobs/record.js';
import type { GuildSettingsStore, LogChannel } from '../quota/guildSettings.js';
import { discordCode, type DiscordRestApi, type MessageView } from './rest.js';
import { COLOR_WORKING, quiet, shownPrompt } from './views.js';

export type MirrorOutcome = 'in_progress' | 'delivered' | 'undeliverable' | 'failed';
/** What the bot lacks in a log channel, by the permission members see in Discord. */
export type LogChannelProblem = 'view_channel' | 'send_messages' | 'embed_links';

const COLORS: Record<MirrorOutcome, number> = {
  in_progress: COLOR_WORKING,
  delivered: 0x57f287,
  undeliverable: 0xfee75c,
  failed: 0xed4245,
};
const PROMPT_MAX = 1000;
/** Longer than any job stays unsettled (24 h of delivery retries, then a late video): a restart still edits. */
const MIRROR_REF_TTL_MS = 2 * 24 * 60 * 60_000;
/** After Discord says the bot cannot post or edit there, that channel is left alone this long. */
const PAUSE_MS = 10 * 60_000;
const CHANNEL_GONE: ReadonlySet<number> = new Set([
  RESTJSONErrorCodes.UnknownChannel,
  RESTJSONErrorCodes.MissingAccess,
  RESTJSONErrorCodes.MissingPermissions,
]);

export function mirrorOutcome(job: Pick<JobRecord, 'state'>): MirrorOutcome {
  if (!isFinal(job)) return 'in_progress';
  if (job.state === 'delivered' || job.state === 'undeliverable') return job.state;
  return 'failed';
}

/**
 * A job as the server's moderators see it in the log channel: who, which model, the outcome, the prompt
 * (markdown escaped) and a link to the job message. A private job shows neither prompt nor link: the
 * member asked that only they see it, and its message is ephemeral, so a link would lead nowhere.
 */
export function renderMirror(job: JobRecord, locale: string): MessageView {
  const outcome = mirrorOutcome(job);
  const embed: APIEmbed = {
    description: job.private ? t(locale, 'mirror.private') : shownPrompt(job.options.prompt, PROMPT_MAX),
    color: COLORS[outcome],
  };
  const shownId = job.deliveredMessageId ?? job.messageId;
  if (!job.private && shownId !== null && job.guildId !== null) {
    embed.fields = [
      { name: t(locale, 'mirror.job_message'), value: messageLink(job.channelId, shownId, job.guildId), inline: false },
    ];
  }
  const key: MessageKey = `mirror.${outcome}`;
  return {
    content: t(locale, key, { user: userMention(job.requesterId), model: job.options.model }),
    embeds: [embed],
    components: [],
    allowedMentions: quiet,
  };
}

/** Which writes of a job the mirror answers: its message now exists, or it just ended. */
export function mirrorEvent(previous: JobRecord | null, next: JobRecord): 'opened' | 'ended' | null {
  if (next.guildId === null) return null;
  if (isFinal(next)) return previous?.state === next.state ? null : 'ended';
  return next.messageId !== null && (previous?.messageId ?? null) === null ? 'opened' : null;
}

interface MirrorRef {
  readonly channelId: string;
  readonly messageId: string;
  readonly locale: string;
}

export interface JobMirrorDeps {
  readonly rest: Pick<DiscordRestApi, 'postChannelMessage' | 'editChannelMessage' | 'deleteChannelMessage'>;
  /** Where each server's log channel is (`logChannel` absent: none). */
  readonly settings: Pick<GuildSettingsStore, 'get'>;
  /** Remembers each job's mirror message (Keyv namespace `guilds`, keys `mirror:<jobId>`) across restarts. */
  readonly store: Keyv;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The log channel (DESIGN §1.8): every accepted job of a server mirrored as one message, posted when the
 * job message exists and edited once to the outcome. Best effort by construction: it observes the job
 * store's writes without being awaited, never retries, and pauses a channel Discord refuses, so nothing
 * it does can delay, fail or flood a job.
 */
export class JobMirror {
  /** Each job's mirror work in order (the post before the edit), as one chain per job. */
  readonly #chains = new Map<string, Promise<void>>();
  readonly #refs = new Map<string, MirrorRef>();
  readonly #pausedUntil = new Map<string, number>();

  constructor(private readonly deps: JobMirrorDeps) {}

  /** A JobStore observer: returns at once and never throws. */
  readonly observe = (previous: JobRecord | null, next: JobRecord): void => {
    const event = mirrorEvent(previous, next);
    if (event === null) return;
    this.#queue(next, () => (event === 'opened' ? this.#open(next) : this.#end(next)));
  };

  /** Settles once every mirror step started so far has (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#chains.size > 0) await Promise.all(this.#chains.values());
  }

  /**
   * Posts the log channel's first message, as `/veo-admin log-channel` sets it: null when the bot can
   * post there, else the permission it lacks. Discord drops the embeds of a bot without Embed Links
   * instead of refusing, so a post that comes back without them is deleted and refused.
   */
  async welcome(channel: LogChannel, adminId: string): Promise<LogChannelProblem | null> {
    const view: MessageView = {
      content: t(channel.locale, 'mirror.welcome', { user: userMention(adminId) }),
      embeds: [{ description: t(channel.locale, 'mirror.welcome_detail'), color: COLOR_WORKING }],
      components: [],
      allowedMentions: quiet,
    };
    let posted;
    try {
      posted = await this.deps.rest.postChannelMessage(channel.channelId, view);
    } catch (error) {
      const code = discordCode(error);
      if (code === RESTJSONErrorCodes.MissingPermissions) return 'send_messages';
      if (code === RESTJSONErrorCodes.MissingAccess || code === RESTJSONErrorCodes.UnknownChannel)
        return 'view_channel';
      throw error;
    }
    this.#pausedUntil.delete(channel.channelId);
    if (posted.embeds.length > 0) return null;
    await this.deps.rest.deleteChannelMessage(channel.channelId, posted.id).catch((error: unknown) => {
      this.deps.logger.warn({ channelId: channel.channelId, err: error }, 'could not delete the log channel test post');
    });
    return 'embed_links';
  }

  #queue(job: JobRecord, work: () => Promise<void>): void {
    const chain = (this.#chains.get(job.id) ?? Promise.resolve()).then(work).catch((error: unknown) => {
      this.deps.logger.warn(
        { jobId: job.id, guildId: job.guildId, code: discordCode(error), err: error },
        'log channel mirror failed',
      );
    });
    this.#chains.set(job.id, chain);
    void chain.then(() => {
      if (this.#chains.get(job.id) === chain) this.#chains.delete(job.id);
    });
  }

  #paused(channelId: string): boolean {
    const until = this.#pausedUntil.get(channelId);
    if (until === undefined) return false;
    if (this.deps.clock.now() < until) return true;
    this.#pausedUntil.delete(channelId);
    return false;
  }

  /** A call to a log channel, skipped while that channel is paused, pausing it when Discord refuses us there. */
  async #send<T>(channelId: string, call: () => Promise<T>): Promise<T | null> {
    if (this.#paused(channelId)) return null;
    try {
      return await call();
    } catch (error) {
      const code = discordCode(error);
      if (code !== null && CHANNEL_GONE.has(code)) this.#pausedUntil.set(channelId, this.deps.clock.now() + PAUSE_MS);
      throw error;
    }
  }

  async #post(job: JobRecord, channel: LogChannel): Promise<void> {
    const { channelId, locale } = channel;
    const posted = await this.#send(channelId, () =>
      this.deps.rest.postChannelMessage(channelId, renderMirror(job, locale)),
    );
    if (!posted) return;
    const ref: MirrorRef = { channelId, messageId: posted.id, locale };
    this.#refs.set(job.id, ref);
    await this.deps.store.set(`mirror:${job.id}`, ref, MIRROR_REF_TTL_MS);
  }

  async #logChannel(guildId: string): Promise<LogChannel | undefined> {
    return (await this.deps.settings.get(guildId)).logChannel;
  }

  async #open(job: JobRecord): Promise<void> {
    if (job.guildId === null || this.#refs.has(job.id)) return;
    const channel = await this.#logChannel(job.guildId);
    if (channel) await this.#post(job, channel);
  }

  async #end(job: JobRecord): Promise<void> {
    const ref = this.#refs.get(job.id) ?? (await this.deps.store.get<MirrorRef>(`mirror:${job.id}`));
    this.#refs.delete(job.id);
    if (typeof ref?.messageId === 'string') {
      await this.#send(ref.channelId, () =>
        this.deps.rest.editChannelMessage(ref.channelId, ref.messageId, renderMirror(job, ref.locale)),
      );
      return;
    }
    // Never acknowledged (nobody saw it), or its post was never made (a restart, a refused channel).
    if (job.guildId === null || job.messageId === null) return;
    const channel = await this.#logChannel(job.guildId);
    if (channel) await this.#post(job, channel);
    this.#refs.delete(job.id);
  }
}
