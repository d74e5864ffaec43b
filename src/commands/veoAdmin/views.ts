import { t, type MessageKey } from '../../i18n/index.js';
import { relativeTime } from '../../lib/format.js';
import type { KieCircuitState } from '../../services/kie/circuit.js';
import { VEO_MODELS, type VeoModel } from '../../lib/models.js';
import type { Balance, CreditUsage } from '../../services/quota/credits.js';
import type { Clamp, GuildQuotaSettings, QuotaDefaults, QuotaLimits } from '../../services/quota/limits.js';
import type { ServerUsage } from '../../services/quota/service.js';

/** The `/veo-admin limits` option that sets each model's cost. */
export const COST_OPTIONS: readonly { readonly name: string; readonly model: VeoModel; readonly label: string }[] =
  VEO_MODELS.map((m) => ({ name: `cost_${m.short}`, model: m.id, label: m.label }));

type ClampedSetting = Clamp['setting'];

/**
 * The limits in force, each marked as set on this server (or held to a ceiling) or inherited from the
 * bot's defaults, with the operator's ceiling beside it.
 */
export function renderLimits(
  locale: string,
  settings: GuildQuotaSettings,
  limits: QuotaLimits,
  defaults?: QuotaDefaults,
): string {
  const { ceilings } = defaults ?? {};
  const clampOf = (setting: ClampedSetting, model?: VeoModel) =>
    limits.clamped.find((c) => c.setting === setting && (c.setting !== 'cost' || c.model === model));
  const source = (set: boolean, setting: ClampedSetting, bound: string | null, model?: VeoModel) => {
    const clamp = clampOf(setting, model);
    const origin = clamp
      ? t(locale, 'admin.source_clamped', { asked: clamp.asked, applied: clamp.applied })
      : t(locale, set ? 'admin.source_server' : 'admin.source_default');
    return bound === null ? origin : `${origin}; ${bound}`;
  };
  const most = (value: number | undefined) => (value === undefined ? null : t(locale, 'admin.bound_max', { value }));
  const least = (value: number | undefined) => (value === undefined ? null : t(locale, 'admin.bound_min', { value }));
  const lines = [
    t(locale, 'admin.limits_title'),
    t(locale, 'admin.limits_limit', {
      value: limits.limit,
      source: source(settings.limit !== undefined, 'limit', most(ceilings?.maxAllowance)),
    }),
    t(locale, 'admin.limits_window', {
      value: limits.windowHours,
      source: source(settings.windowHours !== undefined, 'windowHours', least(ceilings?.minWindowHours)),
    }),
    ...COST_OPTIONS.map(({ model }) =>
      t(locale, 'admin.limits_cost', {
        model,
        value: limits.costs[model],
        source: source(
          settings.costs?.[model] !== undefined,
          'cost',
          ceilings && defaults ? least(defaults.costs[model]) : null,
          model,
        ),
      }),
    ),
    t(locale, 'admin.limits_active', {
      value: limits.maxActiveJobs,
      source: source(settings.maxActiveJobs !== undefined, 'maxActiveJobs', most(ceilings?.maxActiveJobs)),
    }),
  ];
  const unavailable = COST_OPTIONS.map(({ model }) => model).filter((m) => !limits.available.includes(m));
  if (unavailable.length > 0) lines.push(t(locale, 'admin.limits_unavailable', { models: unavailable.join(', ') }));
  return lines.join('\n');
}

export function renderBudget(locale: string, usage: ServerUsage): string {
  if (usage.budget === null)
    return [t(locale, 'admin.budget_none', { used: usage.used }), t(locale, 'admin.budget_hint')].join('\n');
  const lines = [
    t(locale, 'admin.budget_view', { budget: usage.budget, used: usage.used, remaining: usage.remaining ?? 0 }),
  ];
  if (usage.nextUnitAt !== null) lines.push(t(locale, 'admin.budget_next', { when: relativeTime(usage.nextUnitAt) }));
  lines.push(t(locale, 'admin.budget_hint'));
  return lines.join('\n');
}

/** What `/veo-admin limits` changed on the way in, one line each: what was asked, and what applies. */
export function renderClamps(locale: string, clamps: readonly Clamp[]): string[] {
  const keys: Record<Exclude<ClampedSetting, 'cost'>, MessageKey> = {
    limit: 'admin.clamp_limit',
    windowHours: 'admin.clamp_window',
    maxActiveJobs: 'admin.clamp_active',
  };
  return clamps.flatMap((c) =>
    c.setting === 'cost' ? [] : [t(locale, keys[c.setting], { asked: c.asked, applied: c.applied })],
  );
}

/** The bot-wide facts only an operator sees. */
export interface OperatorFacts {
  /** null when kie could not be asked yet. */
  readonly balance: Balance | null;
  readonly spend: CreditUsage;
}

export interface StatusFacts {
  readonly circuit: KieCircuitState;
  readonly running: number;
  readonly usage: ServerUsage;
  /** null: the caller is not an operator, and sees whether videos are accepted, nothing of the money. */
  readonly operator: OperatorFacts | null;
}

const CIRCUIT_KEYS: Record<KieCircuitState, MessageKey> = {
  closed: 'admin.status_circuit_closed',
  paused_credits: 'admin.status_circuit_credits',
  paused_maintenance: 'admin.status_circuit_maintenance',
};

function renderSpend(locale: string, spend: CreditUsage): string {
  if (spend.budget === null) return t(locale, 'admin.status_spend_unlimited', { used: spend.used });
  const params = { used: spend.used, budget: spend.budget };
  return spend.nextFreeAt === null
    ? t(locale, 'admin.status_spend', params)
    : t(locale, 'admin.status_spend_next', { ...params, when: relativeTime(spend.nextFreeAt) });
}

export function renderStatusReport(locale: string, facts: StatusFacts): string {
  const { usage, operator } = facts;
  const lines = [t(locale, 'admin.status_title')];
  if (operator) {
    const { balance } = operator;
    lines.push(
      balance === null
        ? t(locale, 'admin.status_credits_unknown')
        : t(locale, 'admin.status_credits', { credits: balance.credits, when: relativeTime(balance.at) }),
      t(locale, CIRCUIT_KEYS[facts.circuit]),
      renderSpend(locale, operator.spend),
    );
  } else {
    lines.push(t(locale, facts.circuit === 'closed' ? 'admin.status_circuit_closed' : 'admin.status_paused'));
  }
  lines.push(
    t(locale, 'admin.status_jobs', { running: facts.running }),
    t(locale, 'admin.status_units', { used: usage.used, running: usage.running }),
  );
  if (usage.budget !== null)
    lines.push(t(locale, 'quota.budget', { remaining: usage.remaining ?? 0, budget: usage.budget }));
  return lines.join('\n');
}
