/**
 * The keys that keep a public bot affordable (DESIGN §3): the operator's ceilings on server settings, the
 * cross-server allowance, the bot's daily kie-credit budget with kie's prices, and the operators. Parsed
 * with the rest of the environment by config.ts (the only reader of process.env).
 */
import type { z } from 'zod';
import type { ConfigProblem } from './config.js';
import { optionalWhole, snowflakeList, wholeNumber } from './lib/envFields.js';
import { byModel, VEO_MODELS, type VeoModel, type VeoModelInfo } from './lib/models.js';

/** The operator's limits on what a server admin may set; a model's cost never goes below the environment's. */
export interface QuotaCeilings {
  readonly maxAllowance: number;
  readonly minWindowHours: number;
  readonly maxActiveJobs: number;
}

/** What each kie call costs in kie credits (an extension costs its model's). */
export interface CreditPrices {
  readonly models: Readonly<Record<VeoModel, number>>;
  readonly hd1080p: number;
  readonly uhd4k: number;
}

export interface OperatorSettings {
  readonly ceilings: QuotaCeilings;
  /** A member's units per rolling 24 h across every server; null: no cross-server cap. */
  readonly userDailyUnits: number | null;
  /** The bot's own kie spend per rolling 24 h (null: tallied, never refused) and the price of each call. */
  readonly credits: { readonly dailyBudget: number | null; readonly prices: CreditPrices };
  /** Units a 4K upgrade costs the member who asks. */
  readonly quotaCost4k: number;
  /** Discord users who see the kie balance; the application's owner or team count too (read at start). */
  readonly operatorIds: readonly string[];
}

type CreditsKey = `KIE_CREDITS_${Uppercase<VeoModelInfo['short']>}`;

/** The variable that sets what one kie call of the model costs in credits. */
function creditsKey(model: VeoModelInfo): CreditsKey {
  return `KIE_CREDITS_${model.short.toUpperCase()}` as CreditsKey;
}

const PRICE_HINT = 'a whole number of kie credits (kie.ai pricing page; see the README)';

export const OPERATOR_HINTS: Readonly<Record<string, string>> = {
  SERVER_MAX_ALLOWANCE: 'a whole number of units, at least 1: the most a server admin may give each member per window',
  SERVER_MIN_WINDOW_HOURS: 'a whole number of hours, at least 1: the shortest window a server admin may set',
  SERVER_MAX_ACTIVE_JOBS: 'a whole number, at least 1: the most videos in progress per member a server may allow',
  USER_DAILY_UNITS: 'a whole number of units, at least 1, or empty for no cross-server cap',
  DAILY_CREDIT_BUDGET: 'a whole number of kie credits, at least 1, or empty for no budget (see the README)',
  ...Object.fromEntries(VEO_MODELS.map((m) => [creditsKey(m), PRICE_HINT])),
  KIE_CREDITS_1080P: PRICE_HINT,
  KIE_CREDITS_4K: PRICE_HINT,
  QUOTA_COST_4K: 'a whole number of units, at least 1',
  OPERATOR_IDS: 'comma-separated Discord user ids (Developer Mode on, right-click a user > Copy User ID)',
};

const creditsKeys = Object.fromEntries(
  VEO_MODELS.map((m) => [creditsKey(m), wholeNumber(m.defaultCredits, 0)]),
) as Record<CreditsKey, ReturnType<typeof wholeNumber>>;

export const operatorKeys = {
  SERVER_MAX_ALLOWANCE: wholeNumber(20, 1),
  SERVER_MIN_WINDOW_HOURS: wholeNumber(24, 1, 24 * 366),
  SERVER_MAX_ACTIVE_JOBS: wholeNumber(5, 1),
  USER_DAILY_UNITS: optionalWhole(1),
  DAILY_CREDIT_BUDGET: optionalWhole(1),
  ...creditsKeys,
  KIE_CREDITS_1080P: wholeNumber(5, 0),
  KIE_CREDITS_4K: wholeNumber(120, 0),
  QUOTA_COST_4K: wholeNumber(2, 1),
  OPERATOR_IDS: snowflakeList,
};

type OperatorEnvironment = z.output<z.ZodObject<typeof operatorKeys>>;

export function operatorSettings(e: OperatorEnvironment): OperatorSettings {
  return {
    ceilings: {
      maxAllowance: e.SERVER_MAX_ALLOWANCE,
      minWindowHours: e.SERVER_MIN_WINDOW_HOURS,
      maxActiveJobs: e.SERVER_MAX_ACTIVE_JOBS,
    },
    userDailyUnits: e.USER_DAILY_UNITS ?? null,
    credits: {
      dailyBudget: e.DAILY_CREDIT_BUDGET ?? null,
      prices: { models: byModel((m) => e[creditsKey(m)]), hd1080p: e.KIE_CREDITS_1080P, uhd4k: e.KIE_CREDITS_4K },
    },
    quotaCost4k: e.QUOTA_COST_4K,
    operatorIds: Object.freeze([...new Set(e.OPERATOR_IDS ?? [])]),
  };
}

/** The environment's own defaults, which the operator's keys are checked against. */
export interface QuotaDefaultsInEnvironment {
  readonly QUOTA_LIMIT: number;
  readonly QUOTA_WINDOW_HOURS: number;
  readonly MAX_ACTIVE_JOBS_PER_USER: number;
  readonly DEFAULT_MODEL: VeoModel;
}

/**
 * Settings that each parse but cannot work together. The defaults must sit inside the ceilings: otherwise
 * an admin who asked for the ceiling would lower what their members get, and `defaults: True` raise it.
 */
export function operatorProblems(
  e: OperatorEnvironment & QuotaDefaultsInEnvironment,
  defaultCost: number,
): ConfigProblem[] {
  const model = e.DEFAULT_MODEL;
  const credits = operatorSettings(e).credits.prices.models[model];
  const checks: [broken: boolean, key: string, problem: string, hint: string][] = [
    [
      e.QUOTA_LIMIT > e.SERVER_MAX_ALLOWANCE,
      'QUOTA_LIMIT',
      `(${e.QUOTA_LIMIT}) is above SERVER_MAX_ALLOWANCE (${e.SERVER_MAX_ALLOWANCE}), the most any server may allow`,
      'lower QUOTA_LIMIT or raise SERVER_MAX_ALLOWANCE',
    ],
    [
      e.QUOTA_WINDOW_HOURS < e.SERVER_MIN_WINDOW_HOURS,
      'QUOTA_WINDOW_HOURS',
      `(${e.QUOTA_WINDOW_HOURS}) is shorter than SERVER_MIN_WINDOW_HOURS (${e.SERVER_MIN_WINDOW_HOURS}), the shortest any server may set`,
      'raise QUOTA_WINDOW_HOURS or lower SERVER_MIN_WINDOW_HOURS',
    ],
    [
      e.MAX_ACTIVE_JOBS_PER_USER > e.SERVER_MAX_ACTIVE_JOBS,
      'MAX_ACTIVE_JOBS_PER_USER',
      `(${e.MAX_ACTIVE_JOBS_PER_USER}) is above SERVER_MAX_ACTIVE_JOBS (${e.SERVER_MAX_ACTIVE_JOBS}), the most any server may allow`,
      'lower MAX_ACTIVE_JOBS_PER_USER or raise SERVER_MAX_ACTIVE_JOBS',
    ],
    [
      e.USER_DAILY_UNITS !== undefined && e.USER_DAILY_UNITS < defaultCost,
      'USER_DAILY_UNITS',
      `(${String(e.USER_DAILY_UNITS)}) is less than one ${model} video (${defaultCost} units), so no member could ever use it`,
      'raise USER_DAILY_UNITS or choose a cheaper DEFAULT_MODEL',
    ],
    [
      e.DAILY_CREDIT_BUDGET !== undefined && e.DAILY_CREDIT_BUDGET < credits,
      'DAILY_CREDIT_BUDGET',
      `(${String(e.DAILY_CREDIT_BUDGET)}) is less than one ${model} video (${credits} credits), so the bot could never make one`,
      'raise DAILY_CREDIT_BUDGET or choose a cheaper DEFAULT_MODEL',
    ],
  ];
  return checks.filter(([broken]) => broken).map(([, key, problem, hint]) => ({ key, problem, hint }));
}
