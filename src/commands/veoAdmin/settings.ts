import { ApplicationCommandOptionType, type APIApplicationCommandSubcommandOption } from 'discord.js';
import { t } from '../../i18n/index.js';
import type { LimitsChange } from '../../services/quota/guildSettings.js';
import { resolveLimits, type GuildQuotaSettings, type QuotaLimits } from '../../services/quota/limits.js';
import type { CommandDeps } from '../types.js';
import { answer, type AdminInteraction } from './common.js';
import { renderLimits, renderBudget, COST_OPTIONS } from './views.js';

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

export async function executeLimits(interaction: AdminInteraction, deps: CommandDeps): Promise<void> {
  const { guildId, locale } = interaction;
  const change = readLimitsChange(interaction);
  if (change === null) {
    const settings = await deps.guildSettings.get(guildId);
    await answer(interaction, renderLimits(locale, settings, resolveLimits(deps.config.quota, settings)));
    return;
  }
  const judge = judgeAvailability(deps);
  const result = await deps.guildSettings.changeLimits(guildId, change, judge.accept);
  if (!result.ok) {
    await answer(interaction, t(locale, 'admin.limits_no_model', { cost: judge.cheapest() }));
    return;
  }
  deps.logger.info({ guildId, adminId: interaction.user.id, change }, 'server limits changed');
  const head = t(
    locale,
    change.defaults && Object.keys(change).length === 1 ? 'admin.limits_reset' : 'admin.limits_updated',
  );
  const limits = resolveLimits(deps.config.quota, result.settings);
  await answer(interaction, [head, renderLimits(locale, result.settings, limits)].join('\n'));
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
