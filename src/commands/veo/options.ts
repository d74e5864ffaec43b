import {
  ApplicationCommandOptionType,
  type APIApplicationCommandBooleanOption,
  type APIApplicationCommandIntegerOption,
  type APIApplicationCommandStringOption,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { UserFacingError } from '../../errors.js';
import { isVeoModel, VEO_MODELS, type VeoModel } from '../../lib/models.js';

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

export interface SharedValues {
  readonly prompt: string;
  readonly model: VeoModel;
  readonly seed: number | null;
  readonly private: boolean;
}

/** Reads and checks the shared options; anything wrong is refused before the defer. */
export function readSharedOptions(interaction: ChatInputCommandInteraction, defaultModel: VeoModel): SharedValues {
  const prompt = interaction.options.getString('prompt', true).trim();
  if (prompt.length === 0) throw new UserFacingError('refusal.prompt_empty', { max: PROMPT_MAX });
  if (prompt.length > PROMPT_MAX) {
    throw new UserFacingError('refusal.prompt_too_long', { length: prompt.length, max: PROMPT_MAX });
  }
  const modelOption = interaction.options.getString('model');
  const model = modelOption && isVeoModel(modelOption) ? modelOption : defaultModel;
  const seed = interaction.options.getInteger('seed');
  if (seed !== null && (seed < SEED_MIN || seed > SEED_MAX)) throw new UserFacingError('refusal.seed_range');
  return { prompt, model, seed, private: interaction.options.getBoolean('private') ?? false };
}
