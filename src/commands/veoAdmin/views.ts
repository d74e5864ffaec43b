import { t, type MessageKey } from '../../i18n/index.js';
import { relativeTime } from '../../lib/format.js';
import type { KieCircuitState } from '../../services/kie/circuit.js';
import { VEO_MODELS, type VeoModel } from '../../lib/models.js';
import type { GuildQuotaSettings, QuotaLimits } from '../../services/quota/limits.js';
import type { ServerUsage } from '../../services/quota/service.js';

/** The `/veo-admin limits` option that sets each model's cost. */
export const COST_OPTIONS: readonly { readonly name: string; readonly model: VeoModel; readonly label: string }[] =
  VEO_MODELS.map((m) => ({ name: `cost_${m.short}`, model: m.id, label: m.label }));

/** The limits in force, each marked as set on this server or inherited from the bot's defaults. */
export function renderLimits(locale: string, settings: GuildQuotaSettings, limits: QuotaLimits): string {
  const source = (set: boolean) => t(locale, set ? 'admin.source_server' : 'admin.source_default');
  const lines = [
    t(locale, 'admin.limits_title'),
    t(locale, 'admin.limits_limit', { value: limits.limit, source: source(settings.limit !== undefined) }),
    t(locale, 'admin.limits_window', { value: limits.windowHours, source: source(settings.windowHours !== undefined) }),
    ...COST_OPTIONS.map(({ model }) =>
      t(locale, 'admin.limits_cost', {
        model,
        value: limits.costs[model],
        source: source(settings.costs?.[model] !== undefined),
      }),
    ),
    t(locale, 'admin.limits_active', {
      value: limits.maxActiveJobs,
      source: source(settings.maxActiveJobs !== undefined),
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

export interface StatusFacts {
  /** null when kie could not be asked just now. */
  readonly credits: number | null;
  readonly circuit: KieCircuitState;
  readonly running: number;
  readonly usage: ServerUsage;
}

const CIRCUIT_KEYS: Record<KieCircuitState, MessageKey> = {
  closed: 'admin.status_circuit_closed',
  paused_credits: 'admin.status_circuit_credits',
  paused_maintenance: 'admin.status_circuit_maintenance',
};

export function renderStatusReport(locale: string, facts: StatusFacts): string {
  const { usage } = facts;
  const lines = [
    t(locale, 'admin.status_title'),
    facts.credits === null
      ? t(locale, 'admin.status_credits_unknown')
      : t(locale, 'admin.status_credits', { credits: facts.credits }),
    t(locale, CIRCUIT_KEYS[facts.circuit]),
    t(locale, 'admin.status_jobs', { running: facts.running }),
    t(locale, 'admin.status_units', { used: usage.used, running: usage.running }),
  ];
  if (usage.budget !== null)
    lines.push(t(locale, 'quota.budget', { remaining: usage.remaining ?? 0, budget: usage.budget }));
  return lines.join('\n');
}
