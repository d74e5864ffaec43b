import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../logger.js';
import { renderFailure } from '../delivery/views.js';
import type { QuotaScope } from '../quota/ledger.js';
import type { DeliveryPort, QuotaPort } from './ports.js';
import {
  DELIVERY_GIVE_UP_MS,
  isFinal,
  scopeOf,
  stillPollingLate,
  withoutToken,
  type JobFailureReason,
  type JobRecord,
  type JobState,
} from './record.js';
import type { StatusEdits } from './statusEdits.js';
import { DEADLINE_LANE, Exclusive, type JobSteps } from './steps.js';
import { MissingJobError, type JobStore } from './store.js';

export interface JobEndingsDeps {
  readonly jobs: JobStore;
  readonly quota: QuotaPort;
  readonly delivery: Pick<DeliveryPort, 'deliver' | 'showFailure'>;
  readonly steps: JobSteps;
  readonly statusEdits: Pick<StatusEdits, 'forget'>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly options: { readonly deliveryBackoffBaseMs?: number };
  /** The runner's "find the job's next step", run when one of these steps throws. */
  readonly again: (jobId: string) => Promise<void>;
  /** Asks kie again later about a failed job it may still finish. */
  readonly pollLate: (jobId: string) => void;
  readonly jittered: (ms: number) => number;
}

interface Failure {
  readonly reason: JobFailureReason;
  readonly policyText: string | null;
  readonly lateUntil: number | null;
}

/** What reached the member, while the record does not say so yet. */
interface Sent {
  readonly state: 'delivered' | 'undeliverable';
  readonly messageId: string | null;
  readonly reason: string | null;
}

/**
 * How a job ends (DESIGN §4): its video delivered (or undeliverable), or its failure written together
 * with the refund and then shown. Each ending is a step a retry or a restart finishes: a decided failure
 * or a sent result is kept in memory until the record holds it, and a failure keeps the job in the active
 * index (`noticePending`) until its units are back and the member has seen why.
 */
export class JobEndings {
  /** The store lease rules out deliveries by other processes; this rules out a second one here. */
  readonly #deliveries = new Exclusive();
  readonly #failing = new Map<string, Failure>();
  readonly #sent = new Map<string, Sent>();

  constructor(private readonly deps: JobEndingsDeps) {}

  failing(id: string): boolean {
    return this.#failing.has(id);
  }

  forget(id: string): void {
    this.#failing.delete(id);
    this.#sent.delete(id);
  }

  log(job: JobRecord, from: JobState, extra: Record<string, unknown> = {}): void {
    this.deps.logger.info(
      {
        jobId: job.id,
        taskId: job.taskId,
        from,
        to: job.state,
        model: job.options.model,
        promptLength: job.options.prompt.length,
        ...extra,
      },
      'job transition',
    );
  }

  /** Fails the job (unless it already ended or has a video to deliver), refunded in the same write. */
  async fail(
    id: string,
    reason: JobFailureReason,
    policyText: string | null,
    lateUntil: number | null = null,
  ): Promise<void> {
    this.#failing.set(id, { reason, policyText, lateUntil });
    await this.recordFailure(id);
  }

  async recordFailure(id: string): Promise<void> {
    const failure = this.#failing.get(id);
    if (!failure) return;
    const moved: { from: JobState | null } = { from: null };
    const failed = await this.deps.jobs.update(id, (j) => {
      // Only kie refunds: a job whose video exists is never failed, unless the fetch guard refused its URL.
      if (isFinal(j) || (j.state === 'delivering' && failure.reason !== 'media_refused')) return j;
      moved.from = j.state;
      return {
        ...j,
        state: failure.reason === 'unknown_outcome' ? 'failed_unknown' : 'failed',
        failure: { reason: failure.reason, policyText: failure.policyText },
        finishedAt: this.deps.clock.now(),
        lateUntil: failure.lateUntil,
        refunded: true,
        noticePending: true,
      };
    });
    this.#failing.delete(id);
    this.deps.statusEdits.forget(id);
    this.deps.steps.cancel(id, DEADLINE_LANE);
    if (moved.from === null) return;
    this.log(failed, moved.from, { reason: failure.reason });
    await this.settleFailure(id);
  }

  /** Gives the units back and shows the failure; only then does the job leave the active index. */
  async settleFailure(id: string): Promise<void> {
    const job = await this.deps.jobs.get(id);
    if (job?.noticePending !== true) return;
    await this.deps.quota.refund(scopeOf(job), id);
    const now = this.deps.clock.now();
    if (now - (job.finishedAt ?? now) < DELIVERY_GIVE_UP_MS) {
      await this.deps.delivery.showFailure(job, renderFailure(job));
    } else {
      this.deps.logger.warn({ jobId: id }, 'gave up showing a failure after 24 hours; it was refunded');
    }
    const settled = await this.deps.jobs.update(id, (j) => ({
      ...j,
      noticePending: false,
      interaction: withoutToken(j),
    }));
    if (stillPollingLate(settled, this.deps.clock.now())) this.deps.pollLate(id);
  }

  /** A job nobody was told about: failed quietly, token dropped, units back (see JobRunner.abandon). */
  async abandon(id: string, scope: QuotaScope): Promise<void> {
    try {
      await this.deps.jobs.update(id, (j) =>
        isFinal(j)
          ? j
          : {
              ...j,
              state: 'failed',
              failure: { reason: 'unknown', policyText: null },
              finishedAt: this.deps.clock.now(),
              refunded: true,
              interaction: withoutToken(j),
            },
      );
    } catch (error) {
      // Its record was never written: only the reservation is left to give back.
      if (!(error instanceof MissingJobError)) throw error;
    }
    await this.deps.quota.refund(scope, id);
  }

  async deliver(id: string): Promise<void> {
    await this.#deliveries.run(id, () => this.#deliverOnce(id));
  }

  async #deliverOnce(id: string): Promise<void> {
    const job = await this.deps.jobs.get(id);
    if (job?.state !== 'delivering') return;
    let sent = this.#sent.get(id);
    if (!sent) {
      const outcome = await this.deps.delivery.deliver(job);
      if (outcome.kind === 'retry') return this.#deliveryFailed(id, outcome.error);
      if (outcome.kind === 'refused') return this.fail(id, 'media_refused', null);
      sent =
        outcome.kind === 'delivered'
          ? { state: 'delivered', messageId: outcome.messageId, reason: null }
          : { state: 'undeliverable', messageId: null, reason: outcome.reason };
      this.#sent.set(id, sent);
    }
    await this.#recordSent(job, sent);
  }

  async #recordSent(job: JobRecord, sent: Sent): Promise<void> {
    // Released before the final write, so a retry of that write finds the units already settled.
    await this.deps.quota.release(scopeOf(job), job.id);
    const done = await this.deps.jobs.update(job.id, (j) =>
      j.state === 'delivering'
        ? {
            ...j,
            state: sent.state,
            finishedAt: this.deps.clock.now(),
            deliveredMessageId: sent.messageId,
            interaction: withoutToken(j),
          }
        : j,
    );
    this.#sent.delete(job.id);
    this.log(done, 'delivering', sent.reason === null ? {} : { reason: sent.reason });
    if (sent.state === 'undeliverable') {
      this.deps.logger.warn(
        { jobId: job.id, taskId: job.taskId, reason: sent.reason },
        'video exists but could not be delivered',
      );
    }
  }

  async #deliveryFailed(id: string, error: unknown): Promise<void> {
    const now = this.deps.clock.now();
    const failing = await this.deps.jobs.update(id, (j) => ({
      ...j,
      deliveryFailures: j.deliveryFailures + 1,
      firstDeliveryFailureAt: j.firstDeliveryFailureAt ?? now,
    }));
    this.deps.logger.warn({ jobId: id, failures: failing.deliveryFailures, err: error }, 'delivery failed; retrying');
    if (now - (failing.firstDeliveryFailureAt ?? now) >= DELIVERY_GIVE_UP_MS) {
      const sent: Sent = { state: 'undeliverable', messageId: null, reason: 'Discord refused delivery for 24 hours' };
      this.#sent.set(id, sent);
      await this.#recordSent(failing, sent);
      return;
    }
    const base = this.deps.options.deliveryBackoffBaseMs ?? 5_000;
    const delay = Math.min(base * 2 ** Math.min(failing.deliveryFailures - 1, 10), 10 * 60_000);
    this.deps.steps.schedule(id, this.deps.jittered(delay), () => this.deliver(id), {
      again: () => this.deps.again(id),
    });
  }
}
