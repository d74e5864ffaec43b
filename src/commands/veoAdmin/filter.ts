import {
  ApplicationCommandOptionType,
  escapeMarkdown,
  MessageFlags,
  type APIApplicationCommandStringOption,
  type APIApplicationCommandSubcommandGroupOption,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { t } from '../../i18n/index.js';
import { truncate } from '../../lib/format.js';
import {
  addEntries,
  FILTER_ENTRY_MAX,
  FILTER_MAX_ENTRIES,
  removeEntries,
  type FilterChange,
} from '../../lib/wordFilter.js';
import type { CommandDeps } from '../types.js';
import { answer, type AdminInteraction } from './common.js';

/** Discord's longest string option; the list's own limits are checked (and explained) by the handler. */
const WORDS_MAX = 6000;
/** Past this the list goes out as a text file: a message holds 2000 characters. */
const INLINE_LIST_MAX = 1500;

function wordsOption(description: string): APIApplicationCommandStringOption {
  return {
    type: ApplicationCommandOptionType.String,
    name: 'words',
    description,
    required: true,
    max_length: WORDS_MAX,
  };
}

export const filterGroup = {
  type: ApplicationCommandOptionType.SubcommandGroup,
  name: 'filter',
  description: 'Words and phrases this server blocks in prompts',
  options: [
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'add',
      description: 'Block words or phrases in prompts',
      options: [wordsOption('Words or phrases to block, separated by commas')],
    },
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'remove',
      description: 'Unblock words or phrases',
      options: [wordsOption('Words or phrases to unblock, separated by commas')],
    },
    { type: ApplicationCommandOptionType.Subcommand, name: 'list', description: 'Show the blocked words and phrases' },
  ],
} satisfies APIApplicationCommandSubcommandGroupOption;

function refusal(result: Extract<FilterChange, { ok: false }>): UserFacingError {
  if (result.reason === 'empty') return new UserFacingError('admin.filter_no_words');
  if (result.reason === 'full') {
    return new UserFacingError('admin.filter_full', { max: FILTER_MAX_ENTRIES, count: result.count });
  }
  return new UserFacingError('admin.filter_too_long', {
    max: FILTER_ENTRY_MAX,
    entry: escapeMarkdown(truncate(result.entry, 24)),
    length: result.length,
  });
}

async function changeFilter(interaction: AdminInteraction, deps: CommandDeps, adding: boolean): Promise<void> {
  const { guildId, locale } = interaction;
  const words = interaction.options.getString('words', true);
  const outcome: { result: FilterChange | null } = { result: null };
  await deps.guildSettings.changeFilter(guildId, (entries) => {
    outcome.result = adding ? addEntries(entries, words) : removeEntries(entries, words);
    return outcome.result.ok ? outcome.result.entries : null;
  });
  const { result } = outcome;
  if (!result) throw new UserFacingError('error.generic');
  if (!result.ok) throw refusal(result);
  deps.logger.info(
    { guildId, adminId: interaction.user.id, changed: result.changed, count: result.entries.length, adding },
    'prompt filter changed',
  );
  const counts = { count: result.entries.length, max: FILTER_MAX_ENTRIES };
  const lines = adding
    ? [t(locale, 'admin.filter_added', { added: result.changed, ...counts })]
    : [t(locale, 'admin.filter_removed', { removed: result.changed, ...counts })];
  if (result.unchanged > 0) {
    lines.push(t(locale, adding ? 'admin.filter_already' : 'admin.filter_missing', { n: result.unchanged }));
  }
  if (adding) lines.push(t(locale, 'admin.filter_hint'));
  await answer(interaction, lines.join('\n'));
}

/** The list, for the admin's eyes only; a long one as a text file, since a message holds 2000 characters. */
async function listFilter(interaction: AdminInteraction, deps: CommandDeps): Promise<void> {
  const { locale } = interaction;
  const entries = (await deps.guildSettings.get(interaction.guildId)).filter ?? [];
  if (entries.length === 0) {
    await answer(interaction, t(locale, 'admin.filter_list_empty'));
    return;
  }
  const title = t(locale, 'admin.filter_list_title', { count: entries.length, max: FILTER_MAX_ENTRIES });
  const inline = entries.map((entry) => escapeMarkdown(entry)).join(' · ');
  const hint = t(locale, 'admin.filter_hint');
  if (inline.length <= INLINE_LIST_MAX) {
    await answer(interaction, [title, inline, '', hint].join('\n'));
    return;
  }
  await interaction.reply({
    content: [title, t(locale, 'admin.filter_list_attached'), '', hint].join('\n'),
    files: [{ attachment: Buffer.from(`${entries.join('\n')}\n`, 'utf8'), name: 'filter.txt' }],
    flags: MessageFlags.Ephemeral,
    allowedMentions: { parse: [] },
  });
}

export async function executeFilter(interaction: AdminInteraction, deps: CommandDeps): Promise<void> {
  const sub = interaction.options.getSubcommand(true);
  if (sub === 'list') await listFilter(interaction, deps);
  else await changeFilter(interaction, deps, sub === 'add');
}
