import type { KieFailureReason } from '../kie/errors.js';
import type { VeoModel } from '../../lib/models.js';
import type { AspectRatio, ImageRole } from '../kie/types.js';
import type { QuotaScope } from '../quota/ledger.js';

export type JobState =
  'queued' | 'submitting' | 'generating' | 'delivering' | 'delivered' | 'undeliverable' | 'failed' | 'failed_unknown';

export const FINAL_STATES: ReadonlySet<JobState> = new Set(['delivered', 'undeliverable', 'failed', 'failed_unknown']);

/** Why a `/veo animate` job ended before anything was sent to generate. */
export type ImageFailureReason =
  'not_an_image' | 'image_too_large' | 'image_download' | 'image_upload' | 'image_interrupted' | 'image_refused';

/** `media_refused`: the result URL (or what it served) failed the media fetch guard (DESIGN §7). */
export type JobFailureReason =
  KieFailureReason | ImageFailureReason | 'unknown_outcome' | 'timeout' | 'queue_timeout' | 'media_refused';

export interface JobOptions {
  readonly prompt: string;
  readonly model: VeoModel;
  readonly aspectRatio: AspectRatio;
  readonly seed: number | null;
  readonly imageUrls: readonly string[];
  /**
   * true from the accept of a `/veo animate` job until its pictures are re-hosted and in `imageUrls`:
   * such a job must never be submitted, or kie would make a text-only video.
   */
  readonly imagesPending?: boolean;
  /** What the pictures are: first and last frames (absent, `/veo animate`) or references (`/veo reference`). */
  readonly imageRole?: ImageRole;
  /** The server's watermark when the job was accepted (`/veo-admin watermark`), sent to kie as `watermark`. */
  readonly watermark?: string | undefined;
  /** Set on an Extend job: it continues this kie task instead of generating from scratch. */
  readonly extend?: ExtendSource;
}

/** The video an Extend job continues. */
export interface ExtendSource {
  readonly jobId: string;
  readonly taskId: string;
  /** When the source task was made: kie serves it for 14 days only. */
  readonly taskCreatedAt: number;
}

export interface DeliveryAttempt {
  readonly n: number;
  readonly at: number;
  /** 'mention': the short ping after an edit, recorded so a restart does not ping twice. */
  readonly via: 'channel' | 'dm' | 'mention';
}

/** The two upgrades of a finished video (DESIGN §5): each has its own button, state and record field. */
export type UpgradeName = '1080p' | '4k';

/** One upgrade of a job's video: who clicked, the click's deferred reply, and how far it got. */
export interface HdState {
  readonly state: 'preparing' | 'ready' | 'failed';
  readonly interactionId: string;
  readonly token: string | null;
  readonly at: number;
  readonly replyMessageId: string | null;
  readonly channelId: string;
  readonly requesterId: string;
  readonly attachmentSizeLimit: number | null;
  readonly ephemeral: boolean;
  readonly url: string | null;
  /** The clicker's locale: the 1080P reply is theirs (absent on records written before it existed). */
  readonly locale?: string;
}

/** One member's request, persisted before every side effect that depends on it (DESIGN §4). */
export interface JobRecord {
  readonly id: string;
  readonly requesterId: string;
  readonly guildId: string | null;
  readonly channelId: string;
  readonly locale: string;
  readonly private: boolean;
  readonly interaction: {
    readonly id: string;
    readonly token: string | null;
    readonly createdAt: number;
    readonly tokenDead: boolean;
    readonly attachmentSizeLimit: number | null;
  };
  readonly messageId: string | null;
  readonly options: JobOptions;
  readonly units: number;
  readonly state: JobState;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly submittedAt: number | null;
  readonly finishedAt: number | null;
  readonly taskId: string | null;
  readonly resultUrls: readonly string[];
  readonly failure: { readonly reason: JobFailureReason; readonly policyText: string | null } | null;
  /** Written true in the same write as a failure (DESIGN §4): the refund is owed from that moment. */
  readonly refunded: boolean;
  /**
   * A failure is written but its ledger refund or its message to the member is not done yet: the job
   * stays in the active index (a restart finishes it) until both are. Absent on older records: false.
   */
  readonly noticePending?: boolean;
  /** Set when the job passed 30 minutes: kie is still asked until then, and a late video is posted free. */
  readonly lateUntil: number | null;
  readonly late: boolean;
  readonly deliveryAttempts: readonly DeliveryAttempt[];
  readonly deliveredMessageId: string | null;
  readonly deliveryFailures: number;
  readonly firstDeliveryFailureAt: number | null;
  readonly status: { readonly key: string; readonly at: number } | null;
  readonly hd: HdState | null;
  /** The 4K upgrade, shaped like `hd` (absent on records written before it existed). */
  readonly uhd?: HdState | null;
}

/** What a job is made from when it is accepted: who asked, where, through which interaction, for what. */
export interface NewJob extends Pick<
  JobRecord,
  'id' | 'requesterId' | 'guildId' | 'channelId' | 'locale' | 'private' | 'options' | 'units'
> {
  readonly interaction: Omit<JobRecord['interaction'], 'tokenDead'>;
}

/** The record of a job just accepted (queued, nothing sent anywhere yet): the one home of its defaults. */
export function newJobRecord(job: NewJob, now: number): JobRecord {
  const { interaction } = job;
  return {
    id: job.id,
    requesterId: job.requesterId,
    guildId: job.guildId,
    channelId: job.channelId,
    locale: job.locale,
    private: job.private,
    interaction: {
      id: interaction.id,
      token: interaction.token,
      createdAt: interaction.createdAt,
      tokenDead: false,
      attachmentSizeLimit: interaction.attachmentSizeLimit,
    },
    messageId: null,
    options: job.options,
    units: job.units,
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

export function isFinal(job: Pick<JobRecord, 'state'>): boolean {
  return FINAL_STATES.has(job.state);
}

const DAY_MS = 24 * 60 * 60_000;
export const FINAL_RECORD_TTL_MS = 15 * DAY_MS;
export const GENERATION_TIMEOUT_MS = 30 * 60_000;
export const QUEUE_TIMEOUT_MS = 30 * 60_000;
export const LATE_POLL_MS = 5 * 60_000;
export const LATE_WINDOW_MS = 2 * 60 * 60_000;
export const DELIVERY_GIVE_UP_MS = DAY_MS;

/** A finished job no longer needs its interaction token; keeping it would only be a liability. */
export function withoutToken(job: JobRecord): JobRecord['interaction'] {
  return { ...job.interaction, token: null };
}

/** A failed job kie may still finish (our 30 minutes passed, or a task adopted from a callback): still asked. */
export function stillPollingLate(job: JobRecord, now: number): boolean {
  return (job.state === 'failed' || job.state === 'failed_unknown') && job.lateUntil !== null && now < job.lateUntil;
}

/**
 * Nothing left to do for this job: final, its failure (if any) shown and refunded, and kie no longer
 * asked about it (the one "still tracked" test).
 */
export function isSettled(job: JobRecord, now: number): boolean {
  return isFinal(job) && job.noticePending !== true && !stillPollingLate(job, now);
}

/** The job's upgrade of that name (1080P in `hd`, 4K in `uhd`). */
export function upgradeOf(job: JobRecord, name: UpgradeName): HdState | null {
  return (name === '1080p' ? job.hd : job.uhd) ?? null;
}

export function withUpgrade(job: JobRecord, name: UpgradeName, upgrade: HdState | null): JobRecord {
  return name === '1080p' ? { ...job, hd: upgrade } : { ...job, uhd: upgrade };
}

/** Whose units a job holds: its requester's, in its server (or their DM bucket). */
export function scopeOf(job: Pick<JobRecord, 'guildId' | 'requesterId'>): QuotaScope {
  return { guildId: job.guildId, userId: job.requesterId };
}
