/**
 * Interactions for tests of code that answers them (the error boundary): real discord.js interaction
 * objects, made by a discord.js Client logged in to the loopback Discord, which plays Discord's part and
 * records every answer. discord.js's interaction classes have private constructors and a private brand
 * field, so no hand-built object satisfies their types without a cast; these do, and deferReply, reply,
 * editReply and followUp flip `deferred`/`replied` because discord.js itself does it.
 */
import {
  Client,
  Events,
  GatewayIntentBits,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
} from 'discord.js';
import {
  LoopbackDiscord,
  type ButtonClickInput,
  type RecordedRequest,
  type SlashCommandInput,
} from '../e2e/helpers/loopbackDiscord.js';

export interface InteractionSource {
  readonly discord: LoopbackDiscord;
  /** A `/veo prompt` (or what `input` says) as the bot would receive it, not yet acknowledged. */
  slashCommand(input?: Partial<SlashCommandInput>): Promise<ChatInputCommandInteraction>;
  /** A click on a button of a message the bot posted, not yet acknowledged. */
  buttonClick(input: Pick<ButtonClickInput, 'customId'> & Partial<ButtonClickInput>): Promise<ButtonInteraction>;
  /** What was sent to Discord to answer this interaction (callback, `@original` edits, follow-ups), in order. */
  answers(interaction: Interaction): RecordedRequest[];
  close(): Promise<void>;
}

export async function startInteractionSource(): Promise<InteractionSource> {
  const discord = await LoopbackDiscord.start();
  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiBase } });
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(discord.botToken);
  await ready;

  function received<T extends Interaction>(id: Promise<string>, guard: (i: Interaction) => i is T): Promise<T> {
    return new Promise((resolve) => {
      const listener = (interaction: Interaction): void => {
        void id.then((wanted) => {
          if (interaction.id !== wanted || !guard(interaction)) return;
          client.off(Events.InteractionCreate, listener);
          resolve(interaction);
        });
      };
      client.on(Events.InteractionCreate, listener);
    });
  }

  return {
    discord,
    slashCommand(input = {}) {
      const sent = discord.slashCommand({
        name: 'veo',
        subcommand: 'prompt',
        options: [{ name: 'prompt', type: 3, value: 'a lighthouse in a storm' }],
        ...input,
      });
      return received(
        sent.then((s) => s.interactionId),
        (i): i is ChatInputCommandInteraction => i.isChatInputCommand(),
      );
    },
    buttonClick(input) {
      const sent = discord.buttonClick({ messageId: '1300000000000000099', ...input });
      return received(
        sent.then((s) => s.interactionId),
        (i): i is ButtonInteraction => i.isButton(),
      );
    },
    answers(interaction) {
      return discord.requests.filter(
        (r) =>
          r.method !== 'GATEWAY' &&
          (r.path.startsWith(`/interactions/${interaction.id}/`) || r.path.includes(`/${interaction.token}`)),
      );
    },
    async close() {
      await client.destroy();
      await discord.close();
    },
  };
}
