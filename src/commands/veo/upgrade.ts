import { MessageFlags, type ButtonInteraction } from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { t, type MessageKey } from '../../i18n/index.js';
import { withDeadline } from '../../lib/deadline.js';
import { relativeTime } from '../../lib/format.js';
import type { HdClaim, HdClick, UpgradeService, UpgradeSpend } from '../../services/delivery/hd.js';
import type { JobRecord, UpgradeName } from '../../services/jobs/record.js';
import type { ReserveResult } from '../../services/quota/service.js';
import type { CommandDeps } from '../types.js';
import { loadJob, mayAct } from './buttons.js';

type ClaimKey = 'not_yours' | 'not_ready' | 'too_old' | 'already' | 'ready' | 'credits' | 'credits_never';

const KEYS: Readonly<Record<UpgradeName, Readonly<Record<ClaimKey, MessageKey>>>> = {
  '1080p': {
    not_yours: 'hd.not_yours',
    not_ready: 'hd.not_ready',
    too_old: 'hd.too_old',
    already: 'hd.already',
    ready: 'hd.ready',
    credits: 'hd.credits',
    credits_never: 'hd.credits_never',
  },
  '4k': {
    not_yours: 'uhd.not_yours',
    not_ready: 'uhd.not_ready',
    too_old: 'uhd.too_old',
    already: 'uhd.already',
    ready: 'uhd.ready',
    credits: 'uhd.credits',
    credits_never: 'uhd.credits_never',
  },
};

function serviceOf(deps: CommandDeps, name: UpgradeName): UpgradeService {
  return name === '1080p' ? deps.hd : deps.uhd;
}

/** The member's refusals for a 4K's units (DESIGN §1.4's order, as for a job), each saying when to retry. */
export function unitRefusal(result: Extract<ReserveResult, { ok: false }>): UserFacingError {
  const never = result.retryAt === null;
  const keys: Record<typeof result.reason, MessageKey> = {
    blocked: 'refusal.blocked',
    budget: 'refusal.budget',
    active_jobs: 'refusal.active_jobs',
    quota: never ? 'uhd.quota_never' : 'uhd.quota',
    daily: never ? 'uhd.daily_never' : 'uhd.daily',
    model_unavailable: 'error.generic',
  };
  return new UserFacingError(keys[result.reason], {
    when: never ? '' : relativeTime(result.retryAt ?? 0),
    cost: result.cost,
    remaining: result.remaining,
    limit: result.limit,
    max: result.maxActiveJobs,
  });
}

/**
 * What the click costs, held before the defer: the bot's credits for either upgrade (DESIGN §8), then for
 * 4K the clicker's QUOTA_COST_4K units under the same spend id. A refusal leaves nothing held.
 */
async function holdCharge(name: UpgradeName, spend: UpgradeSpend, job: JobRecord, deps: CommandDeps): Promise<void> {
  const keys = KEYS[name];
  const credits = await deps.credits.reserve(spend.id, { kind: name }, job.guildId);
  if (!credits.ok) {
    throw credits.retryAt === null
      ? new UserFacingError(keys.credits_never)
      : new UserFacingError(keys.credits, { when: relativeTime(credits.retryAt) });
  }
  if (name !== '4k') return;
  try {
    const units = await deps.quota.reserve(spend.scope, spend.id, { units: deps.config.quotaCost4k });
    if (!units.ok) throw unitRefusal(units);
  } catch (error) {
    await deps.credits.refund(spend.id);
    throw error;
  }
}

/** Gives back what holdCharge held (a click that could not be answered). */
async function returnCharge(name: UpgradeName, spend: UpgradeSpend, deps: CommandDeps): Promise<void> {
  // The quota service returns the spend's credits with its units.
  if (name === '4k') await deps.quota.refund(spend.scope, spend.id);
  else await deps.credits.refund(spend.id);
}

/**
 * The 1080P and 4K buttons (DESIGN §5): only the requester or Manage Server (they spend the bot's credits,
 * 4K the clicker's units too, and an upgraded video can no longer be extended); the job's upgrade state is
 * read before anything is answered, and the charge is held before the defer.
 */
export async function onUpgradeClick(
  interaction: ButtonInteraction,
  jobId: string,
  deps: CommandDeps,
  name: UpgradeName,
): Promise<void> {
  const keys = KEYS[name];
  const service = serviceOf(deps, name);
  const job = await loadJob(deps, jobId);
  if (!mayAct(interaction, job)) throw new UserFacingError(keys.not_yours, { user: job.requesterId });
  const click: HdClick = {
    interactionId: interaction.id,
    token: interaction.token,
    channelId: interaction.channelId,
    userId: interaction.user.id,
    attachmentSizeLimit: interaction.attachmentSizeLimit ?? null,
    locale: interaction.locale,
  };
  const claiming = service.claim(jobId, click);
  let claim: HdClaim;
  try {
    claim = await withDeadline(claiming, deps.config.storeTimeoutMs);
  } catch (error) {
    // A claim that lands after we gave up is given back, so the next click can take it.
    void claiming
      .then((late) => (late.kind === 'claimed' ? service.release(jobId, interaction.id) : undefined))
      .catch(() => undefined);
    deps.logger.warn({ jobId, upgrade: name, err: error }, 'upgrade click: the store did not answer in time');
    throw new UserFacingError('error.store_unavailable');
  }
  const ephemeral = { flags: MessageFlags.Ephemeral } as const;
  if (claim.kind === 'missing') throw new UserFacingError('error.job_not_found');
  if (claim.kind === 'not_ready' || claim.kind === 'too_old') throw new UserFacingError(keys[claim.kind]);
  if (claim.kind === 'already') {
    await interaction.reply({ content: t(interaction.locale, keys.already), ...ephemeral });
    return;
  }
  if (claim.kind === 'ready') {
    await interaction.reply({ content: t(interaction.locale, keys.ready, { url: claim.url }), ...ephemeral });
    return;
  }
  const spend = service.spendOf(claim.job, click);
  await holdCharge(name, spend, claim.job, deps).catch(async (error: unknown) => {
    await service.release(jobId, interaction.id);
    throw error;
  });
  let replyId: string | null;
  try {
    const response = await interaction.deferReply({ withResponse: true, ...(claim.job.private ? ephemeral : {}) });
    replyId = response.resource?.message?.id ?? null;
  } catch (error) {
    await service.release(jobId, interaction.id);
    await returnCharge(name, spend, deps);
    throw error;
  }
  if (name === '4k') {
    // 4K takes minutes: the reply says so (and what it costs) instead of "thinking" all that time.
    const content = t(interaction.locale, 'uhd.preparing', { cost: deps.config.quotaCost4k });
    await interaction.editReply({ content, allowedMentions: { parse: [] } }).catch((error: unknown) => {
      deps.logger.warn({ jobId, err: error }, 'could not say the 4K version is being prepared');
    });
  }
  await service.start(jobId, replyId);
}
