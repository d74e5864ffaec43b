/** The rules a ledger is judged by: the environment's defaults under a server's overrides. Pure. */
import type { QuotaCeilings } from '../../config.js';
import { VEO_MODEL_IDS, type VeoModel } from '../../lib/models.js';
import { HOUR_MS } from './ledger.js';

export interface QuotaDefaults {
  limit: number;
  windowHours: number;
  costs: Record<VeoModel, number>;
  maxActiveJobs: number;
  /** The operator's limits on overrides (a cost never below the default's); absent: overrides apply as set. */
  ceilings?: QuotaCeilings;
}

/**
 * What a server admin may override, each key falling back to the environment default when absent; `costs`
 * may name some models only; `budget` is a cap in units over a rolling 24 h (null or absent: none).
 */
export interface GuildQuotaSettings {
  limit?: number;
  windowHours?: number;
  costs?: Partial<Record<VeoModel, number>>;
  maxActiveJobs?: number;
  blocked?: readonly string[];
  budget?: number | null;
}

/** One override the operator's ceilings changed: what the server asked for, and what applies. */
export type Clamp =
  | { readonly setting: 'limit' | 'windowHours' | 'maxActiveJobs'; readonly asked: number; readonly applied: number }
  | { readonly setting: 'cost'; readonly model: VeoModel; readonly asked: number; readonly applied: number };

/** The rules in force for one server (or the DM bucket): environment defaults under the server's overrides. */
export interface QuotaLimits {
  limit: number;
  windowHours: number;
  costs: Record<VeoModel, number>;
  maxActiveJobs: number;
  budget: number | null;
  /** Models whose cost fits both the allowance and the budget: the others can never run here. */
  available: VeoModel[];
  /** Stored overrides that the ceilings hold back (settings from before the ceilings, or lowered ceilings). */
  clamped: Clamp[];
}

/** The limits with what judging one member also needs. */
export interface Rules extends QuotaLimits {
  windowMs: number;
  blocked: readonly string[];
}

/** The overrides held within the ceilings, and each one that had to be changed. */
export function clampSettings<S extends GuildQuotaSettings>(
  defaults: QuotaDefaults,
  s: S,
): { settings: S; clamped: Clamp[] } {
  const { ceilings } = defaults;
  if (!ceilings) return { settings: s, clamped: [] };
  const clamped: Clamp[] = [];
  const out: S = { ...s };
  const hold = (setting: 'limit' | 'windowHours' | 'maxActiveJobs', asked: number | undefined, applied: number) => {
    if (asked === undefined || asked === applied) return;
    out[setting] = applied;
    clamped.push({ setting, asked, applied });
  };
  if (s.limit !== undefined) hold('limit', s.limit, Math.min(s.limit, ceilings.maxAllowance));
  if (s.windowHours !== undefined) hold('windowHours', s.windowHours, Math.max(s.windowHours, ceilings.minWindowHours));
  if (s.maxActiveJobs !== undefined)
    hold('maxActiveJobs', s.maxActiveJobs, Math.min(s.maxActiveJobs, ceilings.maxActiveJobs));
  if (s.costs) {
    const costs = { ...s.costs };
    for (const model of VEO_MODEL_IDS) {
      const asked = costs[model];
      if (asked === undefined || asked >= defaults.costs[model]) continue;
      costs[model] = defaults.costs[model];
      clamped.push({ setting: 'cost', model, asked, applied: defaults.costs[model] });
    }
    out.costs = costs;
  }
  return { settings: out, clamped };
}

/** Costs a change asks for below the environment's, which an admin is refused (never silently raised). */
export function costsBelowFloor(
  defaults: QuotaDefaults,
  costs: Partial<Record<VeoModel, number>> | undefined,
): { model: VeoModel; asked: number; floor: number }[] {
  if (!defaults.ceilings || !costs) return [];
  return VEO_MODEL_IDS.flatMap((model) => {
    const asked = costs[model];
    return asked !== undefined && asked < defaults.costs[model] ? [{ model, asked, floor: defaults.costs[model] }] : [];
  });
}

/** The rules a server's settings give over the defaults; pure, so an admin change can be judged before it is stored. */
export function resolveLimits(defaults: QuotaDefaults, stored: GuildQuotaSettings): QuotaLimits {
  const { settings: s, clamped } = clampSettings(defaults, stored);
  const limit = s.limit ?? defaults.limit;
  const budget = s.budget ?? null;
  const costs = { ...defaults.costs, ...s.costs };
  return {
    limit,
    windowHours: s.windowHours ?? defaults.windowHours,
    costs,
    maxActiveJobs: s.maxActiveJobs ?? defaults.maxActiveJobs,
    budget,
    available: VEO_MODEL_IDS.filter((m) => costs[m] <= limit && (budget === null || costs[m] <= budget)),
    clamped,
  };
}

export function resolveRules(defaults: QuotaDefaults, s: GuildQuotaSettings): Rules {
  const limits = resolveLimits(defaults, s);
  return { ...limits, windowMs: limits.windowHours * HOUR_MS, blocked: s.blocked ?? [] };
}
