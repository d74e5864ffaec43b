import {
  ApplicationCommandOptionType,
  ButtonStyle,
  ComponentType,
  MessageFlags,
  type APIActionRowComponent,
  type APIComponentInMessageActionRow,
  type APISelectMenuOption,
  type APIApplicationCommandSubcommandOption,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type StringSelectMenuInteraction,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { t, type MessageKey } from '../../i18n/index.js';
import { encodeSettingsId, type SettingsControl } from '../../lib/customId.js';
import { withDeadline } from '../../lib/deadline.js';
import { isVeoModel, VEO_MODELS, type VeoModel } from '../../lib/models.js';
import { DEFAULT_ASPECTS, type DefaultsChange, type MemberDefaults } from '../../services/members/defaults.js';
import type { CommandDeps } from '../types.js';

export const settingsSubcommand = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'settings',
  description: 'Your own defaults (model, aspect, private), used in every server',
} satisfies APIApplicationCommandSubcommandOption;

/** The select value that clears a default (option values are never empty). */
const UNSET = 'default';

export interface SettingsView {
  readonly content: string;
  readonly components: APIActionRowComponent<APIComponentInMessageActionRow>[];
}

function select(
  control: SettingsControl,
  options: readonly (APISelectMenuOption & { default: boolean })[],
): APIActionRowComponent<APIComponentInMessageActionRow> {
  return {
    type: ComponentType.ActionRow,
    components: [{ type: ComponentType.StringSelect, custom_id: encodeSettingsId(control), options: [...options] }],
  };
}

/** The settings message: what the member's defaults are now, one select menu each, and the forget button. */
export function renderSettings(
  locale: string,
  defaults: MemberDefaults,
  botModel: VeoModel,
  notice: MessageKey | null = null,
): SettingsView {
  const botDefault = (value: string) => t(locale, 'settings.bot_default', { value });
  const privateValue =
    defaults.private === undefined
      ? botDefault(t(locale, 'settings.no'))
      : t(locale, defaults.private ? 'settings.yes' : 'settings.no');
  const lines = [
    t(locale, 'settings.title'),
    t(locale, 'settings.model', { value: defaults.model ?? botDefault(botModel) }),
    t(locale, 'settings.aspect', { value: defaults.aspect ?? botDefault(t(locale, 'settings.aspect_own')) }),
    t(locale, 'settings.private', { value: privateValue }),
  ];
  if (notice) lines.push(t(locale, notice));
  const aspectLabels: Record<(typeof DEFAULT_ASPECTS)[number], MessageKey> = {
    '16:9': 'settings.option_landscape',
    '9:16': 'settings.option_portrait',
  };
  return {
    content: lines.join('\n'),
    components: [
      select('model', [
        {
          label: t(locale, 'settings.option_model_default', { model: botModel }),
          value: UNSET,
          default: !defaults.model,
        },
        ...VEO_MODELS.map((m) => ({
          label: m.label,
          value: m.id,
          description: m.id,
          default: defaults.model === m.id,
        })),
      ]),
      select('aspect', [
        { label: t(locale, 'settings.option_aspect_default'), value: UNSET, default: !defaults.aspect },
        ...DEFAULT_ASPECTS.map((a) => ({
          label: t(locale, aspectLabels[a]),
          value: a,
          default: defaults.aspect === a,
        })),
      ]),
      select('private', [
        { label: t(locale, 'settings.option_public'), value: UNSET, default: defaults.private !== true },
        { label: t(locale, 'settings.option_private'), value: 'private', default: defaults.private === true },
      ]),
      {
        type: ComponentType.ActionRow,
        components: [
          {
            type: ComponentType.Button,
            style: ButtonStyle.Danger,
            custom_id: encodeSettingsId('forget'),
            label: t(locale, 'settings.forget'),
            disabled: Object.keys(defaults).length === 0,
          },
        ],
      },
    ],
  };
}

async function stored<T>(work: Promise<T>, deps: CommandDeps): Promise<T> {
  try {
    return await withDeadline(work, deps.config.storeTimeoutMs);
  } catch (error) {
    deps.logger.warn({ err: error }, 'member defaults: the store did not answer in time');
    throw new UserFacingError('error.store_unavailable');
  }
}

export async function executeSettings(interaction: ChatInputCommandInteraction, deps: CommandDeps): Promise<void> {
  const defaults = await stored(deps.memberDefaults.get(interaction.user.id), deps);
  await interaction.reply({
    ...renderSettings(interaction.locale, defaults, deps.config.defaultModel),
    flags: MessageFlags.Ephemeral,
    allowedMentions: { parse: [] },
  });
}

/** What a choice in one of the menus changes; null for a value the menu never offered. */
export function changeFor(control: SettingsControl, value: string): DefaultsChange | null {
  if (control === 'model') return value === UNSET ? { model: null } : isVeoModel(value) ? { model: value } : null;
  if (control === 'aspect') {
    const aspect = DEFAULT_ASPECTS.find((a) => a === value);
    return value === UNSET ? { aspect: null } : aspect ? { aspect } : null;
  }
  if (control === 'private')
    return value === UNSET ? { private: null } : value === 'private' ? { private: true } : null;
  return null;
}

/** A choice (or the forget button) updates the stored defaults and the same ephemeral message. */
export async function onSettingsControl(
  interaction: StringSelectMenuInteraction | ButtonInteraction,
  control: SettingsControl,
  deps: CommandDeps,
): Promise<void> {
  const userId = interaction.user.id;
  let defaults: MemberDefaults;
  let notice: MessageKey;
  if (control === 'forget') {
    await stored(deps.memberDefaults.forget(userId), deps);
    defaults = {};
    notice = 'settings.forgotten';
  } else {
    const change = interaction.isStringSelectMenu() ? changeFor(control, interaction.values[0] ?? '') : null;
    if (!change) throw new UserFacingError('error.generic');
    defaults = await stored(deps.memberDefaults.change(userId, change), deps);
    notice = 'settings.saved';
  }
  deps.logger.info({ userId, control }, 'member defaults changed');
  await interaction.update({
    ...renderSettings(interaction.locale, defaults, deps.config.defaultModel, notice),
    allowedMentions: { parse: [] },
  });
}
