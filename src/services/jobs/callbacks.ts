import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../logger.js';
import type { TaskInfo } from '../kie/types.js';
import type { CallbackHint } from '../runtime/http.js';
import type { KiePort } from './ports.js';
import { GENERATION_TIMEOUT_MS, LATE_WINDOW_MS, stillPollingLate } from './record.js';
import type { JobStore } from './store.js';

/** Callback-triggered record-info reads of one job happen at most this often (DESIGN §7). */
export const CALLBACK_READ_GAP_MS = 5_000;

/**
 * What a kie callback led to: a read now, nothing (coalesced, unknown, not moving), an adoption, or (for
 * a job another process runs) handed on, with nobody there to take it, or left to the lease holder.
 */
export type CallbackOutcome =
  'read' | 'coalesced' | 'ignored' | 'unknown_task' | 'mismatch' | 'adopted' | 'forwarded' | 'owner_down' | 'standby';

/** Where a callback is handled: the process running the job's shard (DESIGN §8). */
export interface CallbackRoute {
  /** Whether this process runs the guild's shard now (it owns the shard and holds its lease). */
  here(guildId: string | null): boolean;
  /** Hands the hint to the process that does (Redis); false when none listens. Null: no other process. */
  readonly forward: ((guildId: string | null, hint: CallbackHint) => Promise<boolean>) | null;
}

/** What callbacks need of the runner. */
export interface TaskReader {
  /** Reads the job's kie task now, in place of its next scheduled read. */
  readNow(jobId: string): void;
  /** Once the runner is stopping, callbacks are ignored. */
  readonly stopping: boolean;
}

export interface KieCallbacksDeps {
  readonly jobs: JobStore;
  readonly kie: Pick<KiePort, 'recordInfo'>;
  readonly reader: TaskReader;
  readonly clock: Clock;
  readonly logger: Logger;
  /** This job's own callBackUrl, as sent to kie: the only thing that binds a task to a job (DESIGN §6). */
  readonly callbackUrl: ((jobId: string) => string) | undefined;
  /** Told every outcome (metrics). */
  readonly onOutcome?: (outcome: CallbackOutcome) => void;
  /** The 4K upgrade, which calls back too (kie-veo-api.md §3b): a callback makes it ask kie now. */
  readonly uhd?: { nudge(jobId: string): void };
  /** Default: every job is this process's. */
  readonly route?: CallbackRoute;
}

/**
 * kie callbacks (DESIGN §4, §7): never trusted, only a reason to read record-info now. A task we do not
 * know is ignored unless `?job=` names a job that never heard its generate answer and record-info shows
 * that job's own callBackUrl (and prompt): then the job adopts it, and a video it yields is delivered free.
 * `?job=` is outside kie's signature, so a replayed callback can name any job; the URL kie echoes cannot.
 */
export class KieCallbacks {
  readonly #lastRead = new Map<string, number>();

  constructor(private readonly deps: KieCallbacksDeps) {}

  /** A callback said this task moved: read it now, at most once per 5 s. */
  nudge(jobId: string): boolean {
    if (!this.#takeRead(jobId)) return false;
    this.deps.reader.readNow(jobId);
    return true;
  }

  /** `via`: 'bus' for a callback another process verified and handed on (never handed on again). */
  async onCallback(taskId: string, jobParam: string | null, via: 'http' | 'bus' = 'http'): Promise<CallbackOutcome> {
    const outcome = await this.#handle(taskId, jobParam, via);
    this.deps.onOutcome?.(outcome);
    // Anyone can send callbacks: only one about a job of ours that moves it (here or elsewhere) is worth an info line.
    const level = outcome === 'read' || outcome === 'forwarded' || outcome === 'owner_down' ? 'info' : 'debug';
    this.deps.logger[level]({ taskId, jobId: jobParam, outcome }, 'kie callback handled');
    return outcome;
  }

  #takeRead(jobId: string): boolean {
    const now = this.deps.clock.now();
    if (now - (this.#lastRead.get(jobId) ?? 0) < CALLBACK_READ_GAP_MS) return false;
    // Oldest first (a read moves its job to the end): entries past the gap no longer decide anything.
    for (const [id, at] of this.#lastRead) {
      if (now - at < CALLBACK_READ_GAP_MS) break;
      this.#lastRead.delete(id);
    }
    this.#lastRead.delete(jobId);
    this.#lastRead.set(jobId, now);
    return true;
  }

  /** Jobs with a recent callback read remembered; for tests. */
  get remembered(): number {
    return this.#lastRead.size;
  }

  async #handle(taskId: string, jobParam: string | null, via: 'http' | 'bus'): Promise<CallbackOutcome> {
    const { jobs, clock, route } = this.deps;
    if (this.deps.reader.stopping) return 'ignored';
    const known = await jobs.jobIdForTask(taskId);
    const job = known === undefined ? undefined : await jobs.get(known);
    if (known !== undefined && !job) return 'ignored';
    // Reads only (any process may read any record); the moves are the owner's.
    const target = job ?? (jobParam === null ? undefined : await jobs.get(jobParam));
    if (target && route && !route.here(target.guildId)) {
      if (via === 'bus' || !route.forward) return 'standby';
      return (await route.forward(target.guildId, { taskId, jobId: jobParam })) ? 'forwarded' : 'owner_down';
    }
    // The task key is written before the record: a record that never took the task id is not its owner yet.
    if (known !== undefined && job?.taskId === taskId) {
      if (job.uhd?.state === 'preparing') return this.#nudgeUpgrade(job.id);
      if (job.state !== 'generating' && !stillPollingLate(job, clock.now())) return 'ignored';
      return this.nudge(known) ? 'read' : 'coalesced';
    }
    if (jobParam === null || this.deps.callbackUrl === undefined) return 'unknown_task';
    // kie may name the 4K work by a task id of its own; `?job=` then says whose it is (a hint, like any callback).
    const named = target?.id === jobParam ? target : await jobs.get(jobParam);
    if (named?.uhd?.state === 'preparing') return this.#nudgeUpgrade(jobParam);
    return this.#adopt(taskId, jobParam);
  }

  /** The upgrade asks kie itself (a re-request of the 4K is kie's documented status check), at most every 5 s. */
  #nudgeUpgrade(jobId: string): CallbackOutcome {
    if (!this.deps.uhd || !this.#takeRead(jobId)) return 'coalesced';
    this.deps.uhd.nudge(jobId);
    return 'read';
  }

  /** The generate answer of this job was lost (it is failed_unknown with no task): is this task its? */
  async #adopt(taskId: string, jobId: string): Promise<CallbackOutcome> {
    const { jobs } = this.deps;
    const job = await jobs.get(jobId);
    const now = this.deps.clock.now();
    if (
      job?.state !== 'failed_unknown' ||
      job.taskId !== null ||
      now - job.createdAt > GENERATION_TIMEOUT_MS + LATE_WINDOW_MS
    ) {
      return 'unknown_task';
    }
    if (!this.#takeRead(job.id)) return 'coalesced';
    let info: TaskInfo;
    try {
      info = await this.deps.kie.recordInfo(taskId);
    } catch (error) {
      this.deps.logger.warn({ jobId: job.id, taskId, err: error }, 'record-info for a callback to adopt failed');
      return 'unknown_task';
    }
    const own = this.deps.callbackUrl?.(job.id);
    const params = info.params ?? {};
    if (own === undefined || params.callBackUrl !== own || params.prompt !== job.options.prompt) return 'mismatch';
    const guard = { adopted: false };
    await jobs.update(job.id, (j) => {
      if (j.state !== 'failed_unknown' || j.taskId !== null) return j;
      guard.adopted = true;
      return { ...j, taskId, lateUntil: now + LATE_WINDOW_MS };
    });
    if (!guard.adopted) return 'coalesced';
    this.deps.logger.warn(
      { jobId: job.id, taskId },
      'adopted a kie task whose generate answer was lost; a video will be delivered free',
    );
    this.deps.reader.readNow(job.id);
    return 'adopted';
  }
}
