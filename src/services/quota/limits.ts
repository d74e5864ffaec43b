/** The rules a ledger is judged by: the environment's defaults under a server's overrides. Pure. */
import { VEO_MODEL_IDS, type VeoModel } from '../../lib/models.js';
import { HOUR_MS } from './ledger.js';

export interface QuotaDefaults {
  limit: number;
  windowHours: number;
  costs: Record<VeoModel, number>;
  maxActiveJobs: number;
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

/** The rules in force for one server (or the DM bucket): environment defaults under the server's overrides. */
export interface QuotaLimits {
  limit: number;
  windowHours: number;
  costs: Record<VeoModel, number>;
  maxActiveJobs: number;
  budget: number | null;
  /** Models whose cost fits both the allowance and the budget: the others can never run here. */
  available: VeoModel[];
}

/** The limits with what judging one member also needs. */
export interface Rules extends QuotaLimits {
  windowMs: number;
  blocked: readonly string[];
}

/** The rules a server's settings give over the defaults; pure, so an admin change can be judged before it is stored. */
export function resolveLimits(defaults: QuotaDefaults, s: GuildQuotaSettings): QuotaLimits {
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
  };
}

export function resolveRules(defaults: QuotaDefaults, s: GuildQuotaSettings): Rules {
  const limits = resolveLimits(defaults, s);
  return { ...limits, windowMs: limits.windowHours * HOUR_MS, blocked: s.blocked ?? [] };
}
