import { Events, type Client } from 'discord.js';
import { realSleep, type Sleep } from '../lib/clock.js';
import type { Logger } from '../logger.js';
import { isFinal, upgradeOf } from '../services/jobs/record.js';
import { STEP_RETRY_BASE_MS, STEP_RETRY_MAX_MS } from '../services/jobs/steps.js';
import type { JobStore } from '../services/jobs/store.js';
import { parseUpgradeSpendId, type CreditBudget } from '../services/quota/credits.js';
import type { JobLookup } from '../services/quota/reconcile.js';
import type { SpendLookup } from '../services/quota/shared.js';
import type { QuotaService } from '../services/quota/service.js';
import type { BotEvent } from './index.js';

export interface ReadyDeps {
  readonly logger: Logger;
  /** Resume only while holding the store lease (DESIGN §8); start() takes it before login. */
  readonly lease: { readonly held: boolean };
  readonly jobs: Pick<JobStore, 'get'>;
  readonly quota: Pick<QuotaService, 'reconcile'>;
  /** The bot's credit budget: its open spends are settled beside the unit ledgers. */
  readonly credits?: Pick<CreditBudget, 'reconcile'>;
  readonly runner: { resume(): Promise<unknown>; readonly stopping: boolean };
  /** The 1080P and 4K preparations. */
  readonly upgrades: readonly { resume(): Promise<unknown> }[];
  /** Whether this process owns a guild's ledgers (guildId null: the DM buckets). */
  readonly ownsGuild: (guildId: string | null) => boolean;
  /** This process's start: ledger entries reserved after it are its own, never leftovers. */
  readonly startedAt: number;
  readonly sleep?: Sleep;
}

/**
 * What became of a spend (credits, or a 4K's units): a job's is its job's fate; an upgrade's belongs to
 * one click, and stands once kie made the file (or is still making it), goes back when it did not.
 */
export function spendLookupOf(jobs: Pick<JobStore, 'get'>, lookup: JobLookup): SpendLookup {
  return async (spendId) => {
    const click = parseUpgradeSpendId(spendId);
    if (!click) return lookup(spendId);
    const job = await jobs.get(click.jobId);
    if (!job) return 'missing';
    const upgrade = upgradeOf(job, click.name);
    if (upgrade?.interactionId !== click.interactionId) return 'failed';
    return upgrade.state === 'preparing' ? 'active' : upgrade.state === 'ready' ? 'delivered' : 'failed';
  };
}

/**
 * The start-up sequence, once per process (not on every reconnect): settle the ledgers a previous process
 * left, then resume its jobs and its 1080P and 4K preparations.
 */
export function createReadyEvent(deps: ReadyDeps): BotEvent<typeof Events.ClientReady> {
  const lookup: JobLookup = async (jobId) => {
    const job = await deps.jobs.get(jobId);
    if (!job) return 'missing';
    if (!isFinal(job)) return 'active';
    return job.state === 'delivered' || job.state === 'undeliverable' ? 'delivered' : 'failed';
  };
  const spendLookup = spendLookupOf(deps.jobs, lookup);
  return {
    name: Events.ClientReady,
    once: true,
    async execute(client: Client<true>) {
      const { logger } = deps;
      logger.info({ user: client.user.id, guilds: client.guilds.cache.size }, 'connected to Discord');
      if (!deps.lease.held) {
        logger.error({}, 'connected without the store lease; not resuming jobs');
        return;
      }
      // A store that fails now must not leave every job of the last run where it stopped: try again.
      for (let failures = 0; !deps.runner.stopping; failures++) {
        try {
          // A 4K click's units are a ledger entry of their own, settled by that click's fate.
          const reconciled = await deps.quota.reconcile(spendLookup, deps.ownsGuild, deps.startedAt);
          logger.info({ ...reconciled }, 'quota reconciled');
          const credits = await deps.credits?.reconcile(spendLookup, deps.ownsGuild, deps.startedAt);
          if (credits) logger.info({ ...credits }, 'credit budget reconciled');
          await deps.runner.resume();
          for (const upgrade of deps.upgrades) await upgrade.resume();
          return;
        } catch (error) {
          const retryInMs = Math.min(STEP_RETRY_BASE_MS * 2 ** Math.min(failures, 30), STEP_RETRY_MAX_MS);
          logger.error({ err: error, retryInMs }, 'resuming jobs failed; trying again');
          await (deps.sleep ?? realSleep)(retryInMs);
        }
      }
    },
  };
}
