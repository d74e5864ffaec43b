import { ApplicationCommandOptionType, type APIApplicationCommandSubcommandOption } from 'discord.js';
import { t } from '../../i18n/index.js';
import type { LimitsChange } from '../../services/quota/guildSettings.js';
import {
  clampSettings,
  costsBelowFloor,
  resolveLimits,
  type GuildQuotaSettings,
  type QuotaLimits,
} from '../../services/quota/limits.js';
import type { CommandDeps } from '../types.js';
import { answer, type AdminInteraction } from './common.js';
import { renderLimits, renderBudget, COST_OPTIONS, renderClamps } from './views.js';

// Discord's own bounds, wide on purpose: the operator's ceilings clamp what is asked, and the answer says so.
const MAX_UNITS = 1000;
const MAX_WINDOW_HOURS = 24 * 366;
const MAX_ACTIVE = 50;
const MAX_BUDGET = 100_000;

function units(name: string, description: string, max = MAX_UNITS) {
  return { type: ApplicationCommandOptionType.Integer, name, description, min_value: 1, max_value: max } as const;
}

export const limitsSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'limits',
  description: "View or set this server's per-member allowance, window and model costs",
  options: [
    units('limit', 'Units each member may use per window'),
    units('window_hours', 'Length of the rolling window, in hours', MAX_WINDOW_HOURS),
    ...COST_OPTIONS.map(({ name, label }) => units(name, `Units a ${label} video costs`)),
    units('max_active', 'Videos one member may have in progress at once', MAX_ACTIVE),
    {
      type: ApplicationCommandOptionType.Boolean,
      name: 'defaults',
      description: "Go back to the bot's default limits first",
    },
  ],
} satisfies APIApplicationCommandSubcommandOption;

export const budgetSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'budget',
  description: 'View or set a cap on units for the whole server per rolling 24 h',
  options: [
    {
      type: ApplicationCommandOptionType.Integer,
      name: 'units',
      description: 'Units the whole server may use per rolling 24 h; 0 removes the cap',
      min_value: 0,
      max_value: MAX_BUDGET,
    },
  ],
} satisfies APIApplicationCommandSubcommandOption;

function readLimitsChange(interaction: AdminInteraction): LimitsChange | null {
  const o = interaction.options;
  const change: LimitsChange = {};
  const limit = o.getInteger('limit');
  const windowHours = o.getInteger('window_hours');
  const maxActive = o.getInteger('max_active');
  if (limit !== null) change.limit = limit;
  if (windowHours !== null) change.windowHours = windowHours;
  if (maxActive !== null) change.maxActiveJobs = maxActive;
  for (const { name, model } of COST_OPTIONS) {
    const cost = o.getInteger(name);
    if (cost !== null) change.costs = { ...change.costs, [model]: cost };
  }
  if (o.getBoolean('defaults') === true) change.defaults = true;
  return Object.keys(change).length === 0 ? null : change;
}

/**
 * With no option, the limits beside the operator's ceilings. Otherwise the change, held to the ceilings
 * (the answer says what was held and why); a cost below the environment's is refused, naming the floor.
 */
export async function executeLimits(interaction: AdminInteraction, deps: CommandDeps): Promise<void> {
  const { guildId, locale } = interaction;
  const defaults = deps.config.quota;
  const asked = readLimitsChange(interaction);
  if (asked === null) {
    const settings = await deps.guildSettings.get(guildId);
    await answer(interaction, renderLimits(locale, settings, resolveLimits(defaults, settings), defaults));
    return;
  }
  const floors = costsBelowFloor(defaults, asked.costs);
  if (floors.length > 0) {
    await answer(interaction, floors.map((f) => t(locale, 'admin.cost_floor', { ...f })).join('\n'));
    return;
  }
  const { settings: change, clamped } = clampSettings(defaults, asked);
  const judge = judgeAvailability(deps);
  const result = await deps.guildSettings.changeLimits(guildId, change, judge.accept);
  if (!result.ok) {
    await answer(interaction, t(locale, 'admin.limits_no_model', { cost: judge.cheapest() }));
    return;
  }
  deps.logger.info({ guildId, adminId: interaction.user.id, change, clamped: clamped.length }, 'server limits changed');
  const head = t(
    locale,
    change.defaults && Object.keys(change).length === 1 ? 'admin.limits_reset' : 'admin.limits_updated',
  );
  const limits = resolveLimits(defaults, result.settings);
  await answer(
    interaction,
    [head, ...renderClamps(locale, clamped), renderLimits(locale, result.settings, limits, defaults)].join('\n'),
  );
}

/**
 * A server where no model fits the allowance (or the budget) could make nothing at all, which no admin
 * means to do (blocking is for that): such a change is refused, naming the cheapest cost it would leave.
 */
function judgeAvailability(deps: CommandDeps): {
  accept: (next: GuildQuotaSettings) => boolean;
  cheapest: () => number;
} {
  const seen: { limits?: QuotaLimits } = {};
  return {
    accept(next) {
      seen.limits = resolveLimits(deps.config.quota, next);
      return seen.limits.available.length > 0;
    },
    cheapest: () => Math.min(...Object.values(seen.limits?.costs ?? deps.config.quota.costs)),
  };
}

export async function executeBudget(interaction: AdminInteraction, deps: CommandDeps): Promise<void> {
  const { guildId, locale } = interaction;
  const requested = interaction.options.getInteger('units');
  if (requested === null) {
    await answer(interaction, renderBudget(locale, await deps.quota.serverUsage(guildId)));
    return;
  }
  const budget = requested > 0 ? requested : null;
  const judge = judgeAvailability(deps);
  const result = await deps.guildSettings.setBudget(guildId, budget, judge.accept);
  if (!result.ok) {
    await answer(interaction, t(locale, 'admin.limits_no_model', { cost: judge.cheapest() }));
    return;
  }
  deps.logger.info({ guildId, adminId: interaction.user.id, budget }, 'server budget changed');
  if (budget === null) {
    await answer(interaction, t(locale, 'admin.budget_cleared'));
    return;
  }
  const usage = await deps.quota.serverUsage(guildId);
  await answer(interaction, t(locale, 'admin.budget_set', { budget, used: usage.used }));
}
