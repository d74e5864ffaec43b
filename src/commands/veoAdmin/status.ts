import { ApplicationCommandOptionType, type APIApplicationCommandSubcommandOption } from 'discord.js';
import { isFinal } from '../../services/jobs/record.js';
import type { CommandDeps } from '../types.js';
import { answer, deferAnswer, type AdminInteraction } from './common.js';
import { renderStatusReport } from './views.js';

export const statusSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'status',
  description: 'kie.ai credits, whether the video service is paused, and what this server is using',
} satisfies APIApplicationCommandSubcommandOption;

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
