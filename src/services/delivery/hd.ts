import type { Clock } from '../../lib/clock.js';
import { DownloadError, type DownloadResult } from '../../lib/download.js';
import { formatBytes } from '../../lib/format.js';
import { renderNotice } from './views.js';
import { type MessageView } from './rest.js';
import type { Logger } from '../../logger.js';
import { DEFAULT_UPLOAD_LIMIT, TOKEN_LIFETIME_MS } from './video.js';
import { discordCode, isDeadTokenError, isTooLargeError, type DiscordRest, type OutgoingFile } from './rest.js';
import type { HdState, JobRecord } from '../jobs/record.js';
import type { JobStore } from '../jobs/store.js';
import type { HdResult } from '../kie/types.js';

export const HD_MAX_WAIT_MS = 10 * 60_000;

export type HdClaim =
  | { readonly kind: 'claimed'; readonly job: JobRecord }
  | { readonly kind: 'already' }
  | { readonly kind: 'ready'; readonly url: string }
  | { readonly kind: 'not_ready' }
  | { readonly kind: 'missing' };

export interface HdClick {
  readonly interactionId: string;
  readonly token: string;
  readonly channelId: string;
  readonly userId: string;
  readonly attachmentSizeLimit: number | null;
  /** The clicker's language: the 1080P reply is theirs. */
  readonly locale?: string;
}

export interface HdServiceDeps {
  readonly jobs: JobStore;
  readonly kie: { get1080p(taskId: string, index?: number): Promise<HdResult> };
  readonly messages: DiscordRest;
  readonly download: (url: string, capBytes: number) => Promise<DownloadResult>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly pollIntervalMs: number;
  readonly guildUploadLimit: (guildId: string) => number;
}

/**
 * The 1080P button (DESIGN §5): one preparation per job, re-checked while kie says "processing",
 * delivered once as the edit of the click's deferred reply, resumable from the record after a restart.
 */
export class HdService {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #inflight = new Set<Promise<void>>();
  #stopping = false;

  constructor(private readonly deps: HdServiceDeps) {}

  /** Reads the state and, when nobody is preparing it, takes the preparation in the same locked write. */
  async claim(jobId: string, click: HdClick): Promise<HdClaim> {
    const job = await this.deps.jobs.get(jobId);
    if (!job) return { kind: 'missing' };
    if (job.state !== 'delivered' || !job.taskId) return { kind: 'not_ready' };
    const outcome: { value: HdClaim } = { value: { kind: 'already' } };
    const updated = await this.deps.jobs.update(jobId, (j) => {
      const hd = j.hd;
      if (hd?.state === 'ready' && hd.url) {
        outcome.value = { kind: 'ready', url: hd.url };
        return j;
      }
      if (hd?.state === 'preparing' && this.deps.clock.now() - hd.at < HD_MAX_WAIT_MS + TOKEN_LIFETIME_MS) return j;
      const next: HdState = {
        state: 'preparing',
        interactionId: click.interactionId,
        token: click.token,
        at: this.deps.clock.now(),
        replyMessageId: null,
        channelId: click.channelId,
        requesterId: click.userId,
        attachmentSizeLimit: click.attachmentSizeLimit,
        ephemeral: j.private,
        url: null,
        ...(click.locale ? { locale: click.locale } : {}),
      };
      outcome.value = { kind: 'claimed', job: j };
      return { ...j, hd: next };
    });
    return outcome.value.kind === 'claimed' ? { kind: 'claimed', job: updated } : outcome.value;
  }

  /** Gives the preparation back when the click could not even be deferred. */
  async release(jobId: string): Promise<void> {
    await this.deps.jobs.update(jobId, (j) => ({ ...j, hd: null }));
  }

  async start(jobId: string, replyMessageId: string | null): Promise<void> {
    await this.deps.jobs.update(jobId, (j) => (j.hd ? { ...j, hd: { ...j.hd, replyMessageId } } : j));
    this.#schedule(jobId, 0);
  }

  async resume(): Promise<number> {
    const preparing = await this.deps.jobs.hdPreparing();
    for (const job of preparing) this.#schedule(job.id, 0);
    return preparing.length;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.allSettled([...this.#inflight]);
  }

  #schedule(jobId: string, delayMs: number): void {
    if (this.#stopping) return;
    const timer = setTimeout(() => {
      this.#timers.delete(jobId);
      const run = this.#check(jobId).catch((error: unknown) =>
        this.deps.logger.error({ jobId, err: error }, '1080P step failed unexpectedly'),
      );
      this.#inflight.add(run);
      void run.finally(() => this.#inflight.delete(run));
    }, delayMs);
    this.#timers.set(jobId, timer);
  }

  async #check(jobId: string): Promise<void> {
    const job = await this.deps.jobs.get(jobId);
    const hd = job?.hd;
    if (!job?.taskId || hd?.state !== 'preparing') return;
    let result: HdResult;
    try {
      result = await this.deps.kie.get1080p(job.taskId, 0);
    } catch (error) {
      this.deps.logger.warn({ jobId, taskId: job.taskId, err: error }, '1080P request refused');
      return this.#finish(job, hd, null);
    }
    if (result.state === 'processing') {
      if (this.deps.clock.now() - hd.at >= HD_MAX_WAIT_MS) return this.#finish(job, hd, null);
      this.#schedule(jobId, this.deps.pollIntervalMs);
      return;
    }
    return this.#finish(job, hd, result.url);
  }

  #limit(job: JobRecord, hd: HdState, viaToken: boolean): number {
    if (viaToken) return hd.attachmentSizeLimit ?? DEFAULT_UPLOAD_LIMIT;
    if (hd.ephemeral || !job.guildId) return DEFAULT_UPLOAD_LIMIT;
    return this.deps.guildUploadLimit(job.guildId);
  }

  async #finish(job: JobRecord, hd: HdState, url: string | null): Promise<void> {
    const viaToken = hd.token !== null && this.deps.clock.now() - hd.at < TOKEN_LIFETIME_MS;
    const limit = this.#limit(job, hd, viaToken);
    let view: MessageView;
    let files: OutgoingFile[] = [];
    const locale = hd.locale ?? job.locale;
    if (url === null) view = renderNotice(locale, 'hd.failed');
    else {
      const file = await this.#fetch(job, url, limit);
      if (file) {
        view = renderNotice(locale, 'hd.ready_file');
        files = [file];
      } else view = renderNotice(locale, 'hd.too_large', { limit: formatBytes(limit), url });
    }
    const tooLargeView = url ? renderNotice(locale, 'hd.too_large', { limit: formatBytes(limit), url }) : view;
    try {
      await this.#show(hd, viaToken, view, files, tooLargeView);
    } catch (error) {
      this.deps.logger.warn({ jobId: job.id, code: discordCode(error) }, 'could not show the 1080P result');
      // A transient Discord failure is retried on the next check rather than losing the result.
      if (url !== null && this.deps.clock.now() - hd.at < HD_MAX_WAIT_MS * 6) {
        this.#schedule(job.id, this.deps.pollIntervalMs);
        return;
      }
    }
    await this.deps.jobs.update(job.id, (j) => ({
      ...j,
      hd: j.hd ? { ...j.hd, state: url ? 'ready' : 'failed', url, token: null } : null,
    }));
    this.deps.logger.info({ jobId: job.id, taskId: job.taskId, ready: url !== null }, '1080P preparation finished');
  }

  async #fetch(job: JobRecord, url: string, limit: number): Promise<OutgoingFile | null> {
    try {
      const result = await this.deps.download(url, limit);
      if (result.kind === 'too_large') return null;
      return { name: `veo-${job.id}-1080p.mp4`, data: result.data, contentType: 'video/mp4' };
    } catch (error) {
      if (error instanceof DownloadError) return null;
      throw error;
    }
  }

  async #show(
    hd: HdState,
    viaToken: boolean,
    view: MessageView,
    files: OutgoingFile[],
    tooLargeView: MessageView,
  ): Promise<void> {
    const { messages } = this.deps;
    if (viaToken && hd.token) {
      try {
        await messages.editOriginal(hd.token, view, { files, replaceAttachments: files.length > 0 });
        return;
      } catch (error) {
        if (isTooLargeError(error)) {
          await messages.editOriginal(hd.token, tooLargeView, { replaceAttachments: true });
          return;
        }
        if (!isDeadTokenError(error)) throw error;
      }
    }
    if (!hd.ephemeral && hd.replyMessageId) {
      try {
        await messages.editChannelMessage(hd.channelId, hd.replyMessageId, view, { files, replaceAttachments: true });
      } catch (error) {
        if (!isTooLargeError(error)) throw error;
        await messages.editChannelMessage(hd.channelId, hd.replyMessageId, tooLargeView, { replaceAttachments: true });
      }
      return;
    }
    const dm = await messages.openDm(hd.requesterId);
    await messages.postChannelMessage(
      dm,
      files.length > 0 && files[0] && files[0].data.length <= DEFAULT_UPLOAD_LIMIT ? view : tooLargeView,
      {
        files: files.filter((f) => f.data.length <= DEFAULT_UPLOAD_LIMIT),
      },
    );
  }
}
