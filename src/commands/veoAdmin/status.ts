import { ApplicationCommandOptionType, type APIApplicationCommandSubcommandOption } from 'discord.js';
import { isFinal } from '../../services/jobs/record.js';
import type { CommandDeps } from '../types.js';
import { answer, deferAnswer, type AdminInteraction } from './common.js';
import { renderStatusReport, type OperatorFacts } from './views.js';

export const statusSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'status',
  description: 'Whether the video service is accepting videos, and what this server is using',
} satisfies APIApplicationCommandSubcommandOption;

/** What only an operator is shown: the kie balance (cached, never asked per use) and the bot's credit spend. */
async function operatorFacts(deps: CommandDeps): Promise<OperatorFacts> {
  const [balance, spend] = await Promise.all([deps.balance.get(), deps.credits.usage()]);
  return { balance, spend };
}

export async function executeStatus(interaction: AdminInteraction, deps: CommandDeps): Promise<void> {
  const { guildId } = interaction;
  await deferAnswer(interaction);
  const operator = deps.operators.isOperator(interaction.user.id);
  const [active, usage, facts] = await Promise.all([
    deps.jobs.active(),
    deps.quota.serverUsage(guildId),
    operator ? operatorFacts(deps) : null,
  ]);
  const running = active.filter((job) => job.guildId === guildId && !isFinal(job)).length;
  await answer(
    interaction,
    renderStatusReport(interaction.locale, { circuit: deps.kie.circuit.state, running, usage, operator: facts }),
  );
}
