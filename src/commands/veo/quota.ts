import {
  ApplicationCommandOptionType,
  MessageFlags,
  type APIApplicationCommandSubcommandOption,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { t } from '../../i18n/index.js';
import { relativeTime } from '../../lib/render.js';
import type { QuotaLimits, QuotaModel, QuotaStatus, ServerUsage } from '../../services/quota.js';
import type { CommandDeps } from '../types.js';

export const quotaSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'quota',
  description: 'How many units you have left here, and when the next one comes back',
} satisfies APIApplicationCommandSubcommandOption;

/** "X of Y units left · next unit back <t:…:R>", what running jobs hold, and this server's rules. */
export function renderQuota(
  locale: string,
  status: QuotaStatus,
  limits: QuotaLimits,
  server: ServerUsage | null,
): string {
  const units = { remaining: status.remaining, limit: status.limit };
  const lines = [
    status.nextUnitAt === null
      ? t(locale, 'quota.units_full', units)
      : t(locale, 'quota.units', { ...units, when: relativeTime(status.nextUnitAt) }),
    t(locale, 'quota.running', { units: status.running, active: status.activeJobs, max: status.maxActiveJobs }),
  ];
  const costs = (Object.entries(limits.costs) as [QuotaModel, number][]).map(([model, cost]) =>
    t(locale, limits.available.includes(model) ? 'quota.cost' : 'quota.cost_unavailable', { model, cost }),
  );
  lines.push(t(locale, 'quota.rules', { hours: status.windowHours, costs: costs.join(' · ') }));
  if (server?.budget != null) {
    lines.push(t(locale, 'quota.budget', { remaining: server.remaining ?? 0, budget: server.budget }));
  }
  if (status.blocked) lines.push(t(locale, 'refusal.blocked'));
  return lines.join('\n');
}

export async function executeQuota(interaction: ChatInputCommandInteraction, deps: CommandDeps): Promise<void> {
  const { guildId } = interaction;
  if (guildId === null && !deps.config.allowDms) throw new UserFacingError('refusal.dm_disabled');
  const [status, limits, server] = await Promise.all([
    deps.quota.status({ guildId, userId: interaction.user.id }),
    deps.quota.limits(guildId),
    guildId === null ? null : deps.quota.serverUsage(guildId),
  ]);
  await interaction.reply({
    content: renderQuota(interaction.locale, status, limits, server),
    flags: MessageFlags.Ephemeral,
    allowedMentions: { parse: [] },
  });
}
