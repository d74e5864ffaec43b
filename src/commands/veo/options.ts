import {
  ApplicationCommandOptionType,
  type APIApplicationCommandBooleanOption,
  type APIApplicationCommandIntegerOption,
  type APIApplicationCommandStringOption,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { isVeoModel, VEO_MODELS, type VeoModel } from '../../lib/models.js';
import type { AspectRatio } from '../../services/kie/types.js';
import type { MemberDefaults } from '../../services/members/defaults.js';
import type { CommandDeps } from '../types.js';
import { ackBudget } from './accept.js';

export const PROMPT_MAX = 2000;
export const SEED_MIN = 10_000;
export const SEED_MAX = 99_999;

/** Options every generating subcommand shares, in the order Discord shows them after the required ones. */
export const sharedOptions: {
  readonly prompt: APIApplicationCommandStringOption;
  readonly model: APIApplicationCommandStringOption;
  readonly seed: APIApplicationCommandIntegerOption;
  readonly private: APIApplicationCommandBooleanOption;
} = {
  prompt: {
    type: ApplicationCommandOptionType.String,
    name: 'prompt',
    description: 'What the video should show',
    required: true,
    max_length: PROMPT_MAX,
  },
  model: {
    type: ApplicationCommandOptionType.String,
    name: 'model',
    description: 'Which Veo model to use',
    choices: VEO_MODELS.map((m) => ({ name: m.label, value: m.id })),
  },
  seed: {
    type: ApplicationCommandOptionType.Integer,
    name: 'seed',
    description: 'A seed from 10000 to 99999; the same seed gives similar results',
    min_value: SEED_MIN,
    max_value: SEED_MAX,
  },
  private: {
    type: ApplicationCommandOptionType.Boolean,
    name: 'private',
    description: 'Only you see the progress and the video',
  },
};

/** The `aspect` option of the subcommands with no picture to follow (`/veo animate` has its own, with Auto). */
export const landscapeOrPortrait: APIApplicationCommandStringOption = {
  type: ApplicationCommandOptionType.String,
  name: 'aspect',
  description: 'Aspect ratio (default 16:9)',
  choices: [
    { name: '16:9 landscape', value: '16:9' },
    { name: '9:16 portrait', value: '9:16' },
  ],
};

const LANDSCAPE_OR_PORTRAIT: ReadonlySet<string> = new Set<AspectRatio>(['16:9', '9:16']);

/** The aspect given or defaulted when it is one of landscapeOrPortrait's (a member's default may be Auto), else 16:9. */
export function landscapeOrPortraitOf(shared: SharedValues): AspectRatio {
  return shared.aspect !== null && LANDSCAPE_OR_PORTRAIT.has(shared.aspect) ? (shared.aspect as AspectRatio) : '16:9';
}

export interface SharedValues {
  readonly prompt: string;
  readonly model: VeoModel;
  readonly seed: number | null;
  readonly private: boolean;
  /** The `aspect` option as given, else the member's default; null: the subcommand's own default. */
  readonly aspect: string | null;
}

type OptionsDeps = Pick<CommandDeps, 'config' | 'clock' | 'memberDefaults' | 'logger'>;

/** The member's `/veo settings`, read only when an option they cover was left out. */
async function defaultsFor(interaction: ChatInputCommandInteraction, deps: OptionsDeps): Promise<MemberDefaults> {
  const { options } = interaction;
  const given = [options.getString('model'), options.getString('aspect'), options.getBoolean('private')];
  if (given.every((value) => value !== null)) return {};
  try {
    return await ackBudget(interaction, deps)(deps.memberDefaults.get(interaction.user.id));
  } catch (error) {
    deps.logger.warn({ interactionId: interaction.id, err: error }, 'member defaults unreadable before the defer');
    throw new UserFacingError('error.store_unavailable');
  }
}

/**
 * Reads and checks the shared options (anything wrong is refused before the defer), each left-out one
 * filled from the member's own defaults, then the bot's. Every generating subcommand reads them here.
 */
export async function readSharedOptions(
  interaction: ChatInputCommandInteraction,
  deps: OptionsDeps,
): Promise<SharedValues> {
  const prompt = interaction.options.getString('prompt', true).trim();
  if (prompt.length === 0) throw new UserFacingError('refusal.prompt_empty', { max: PROMPT_MAX });
  if (prompt.length > PROMPT_MAX) {
    throw new UserFacingError('refusal.prompt_too_long', { length: prompt.length, max: PROMPT_MAX });
  }
  const seed = interaction.options.getInteger('seed');
  if (seed !== null && (seed < SEED_MIN || seed > SEED_MAX)) throw new UserFacingError('refusal.seed_range');
  const defaults = await defaultsFor(interaction, deps);
  const modelOption = interaction.options.getString('model');
  const model = modelOption && isVeoModel(modelOption) ? modelOption : (defaults.model ?? deps.config.defaultModel);
  return {
    prompt,
    model,
    seed,
    private: interaction.options.getBoolean('private') ?? defaults.private ?? false,
    aspect: interaction.options.getString('aspect') ?? defaults.aspect ?? null,
  };
}
