import { ApplicationCommandOptionType, type APIApplicationCommandSubcommandOption } from 'discord.js';
import { t, type MessageKey } from '../../i18n/index.js';
import { isFinal } from '../../services/jobRecord.js';
import type { KieCircuitState } from '../../services/kie/circuit.js';
import type { ServerUsage } from '../../services/quota.js';
import type { CommandDeps } from '../types.js';
import { answer, deferAnswer, type AdminInteraction } from './common.js';

export const statusSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'status',
  description: 'kie.ai credits, whether the video service is paused, and what this server is using',
} satisfies APIApplicationCommandSubcommandOption;

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

/** Deferred first: the credits come from kie, which may take longer than Discord's 3 s. */
export async function executeStatus(interaction: AdminInteraction, deps: CommandDeps): Promise<void> {
  const { guildId } = interaction;
  await deferAnswer(interaction);
  const [credits, active, usage] = await Promise.all([
    deps.kie.credits().catch((error: unknown) => {
      deps.logger.warn({ err: error }, 'could not read kie credits for /veo-admin status');
      return null;
    }),
    deps.jobs.active(),
    deps.quota.serverUsage(guildId),
  ]);
  const running = active.filter((job) => job.guildId === guildId && !isFinal(job)).length;
  await answer(
    interaction,
    renderStatusReport(interaction.locale, { credits, circuit: deps.kie.circuit.state, running, usage }),
  );
}
