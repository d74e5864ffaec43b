import {
  ApplicationCommandOptionType,
  MessageFlags,
  PermissionFlagsBits,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type PermissionsBitField,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import { UserFacingError } from '../errors.js';
import { t, type MessageKey } from '../i18n/index.js';
import { CustomIdPrefix } from '../lib/customId.js';
import { newJobId } from '../lib/jobId.js';
import { relativeTime } from '../lib/render.js';
import type { JobRecord } from '../services/jobRecord.js';
import type { AspectRatio, VeoModel } from '../services/kie/types.js';
import type { ReserveResult } from '../services/quota.js';
import type { CommandDeps, CommandModule } from './types.js';

export const PROMPT_MAX = 2000;
export const SEED_MIN = 10_000;
export const SEED_MAX = 99_999;

const modelChoices = [
  { name: 'Veo 3.1 Fast', value: 'veo3_fast' },
  { name: 'Veo 3.1 Quality', value: 'veo3' },
  { name: 'Veo 3.1 Lite', value: 'veo3_lite' },
] as const;

export const veoCommandData = {
  name: 'veo',
  description: 'Make short videos with Google Veo 3.1',
  options: [
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'prompt',
      description: 'Turn a text prompt into an 8-second video',
      options: [
        {
          type: ApplicationCommandOptionType.String,
          name: 'prompt',
          description: 'What the video should show',
          required: true,
          max_length: PROMPT_MAX,
        },
        {
          type: ApplicationCommandOptionType.String,
          name: 'model',
          description: 'Which Veo model to use',
          choices: [...modelChoices],
        },
        {
          type: ApplicationCommandOptionType.String,
          name: 'aspect',
          description: 'Aspect ratio (default 16:9)',
          choices: [
            { name: '16:9 landscape', value: '16:9' },
            { name: '9:16 portrait', value: '9:16' },
          ],
        },
        {
          type: ApplicationCommandOptionType.Integer,
          name: 'seed',
          description: 'A seed from 10000 to 99999; the same seed gives similar results',
          min_value: SEED_MIN,
          max_value: SEED_MAX,
        },
        {
          type: ApplicationCommandOptionType.Boolean,
          name: 'private',
          description: 'Only you see the progress and the video',
        },
      ],
    },
  ],
} satisfies RESTPostAPIChatInputApplicationCommandsJSONBody;

const MODELS: ReadonlySet<string> = new Set<VeoModel>(['veo3', 'veo3_fast', 'veo3_lite']);
const PROMPT_ASPECTS: ReadonlySet<string> = new Set<AspectRatio>(['16:9', '9:16']);

const REQUIRED_PERMISSIONS: ReadonlyArray<readonly [bigint, string]> = [
  [PermissionFlagsBits.ViewChannel, 'View Channel'],
  [PermissionFlagsBits.EmbedLinks, 'Embed Links'],
  [PermissionFlagsBits.AttachFiles, 'Attach Files'],
];

/** The permissions the bot lacks in this channel, by the names members see in Discord. */
export function missingPermissions(appPermissions: PermissionsBitField, inThread: boolean): string[] {
  const needed: Array<readonly [bigint, string]> = [
    ...REQUIRED_PERMISSIONS,
    inThread
      ? [PermissionFlagsBits.SendMessagesInThreads, 'Send Messages in Threads']
      : [PermissionFlagsBits.SendMessages, 'Send Messages'],
  ];
  return needed.filter(([bit]) => !appPermissions.has(bit, false)).map(([, name]) => name);
}

function refusalFor(result: Extract<ReserveResult, { ok: false }>, model: VeoModel, maxActive: number): UserFacingError {
  const when = result.retryAt ? relativeTime(result.retryAt) : '—';
  const keys: Record<typeof result.reason, MessageKey> = {
    blocked: 'refusal.blocked',
    budget: 'refusal.budget',
    active_jobs: 'refusal.active_jobs',
    quota: 'refusal.quota',
    model_unavailable: 'refusal.model_unavailable',
  };
  return new UserFacingError(keys[result.reason], { when, limit: result.limit, model, max: maxActive });
}

export function createVeoCommand(deps: CommandDeps): CommandModule {
  const { config, jobs, runner, quota, clock, logger } = deps;

  /** Everything judged from the payload and the local store alone, before the 3-second defer. */
  function preflight(interaction: ChatInputCommandInteraction): void {
    if (!interaction.guildId) {
      if (!config.allowDms) throw new UserFacingError('refusal.dm_disabled');
      return;
    }
    if (!deps.isGuildCached(interaction.guildId)) throw new UserFacingError('refusal.not_member');
    const missing = missingPermissions(interaction.appPermissions, interaction.channel?.isThread() ?? false);
    if (missing.length > 0) throw new UserFacingError('refusal.missing_permissions', { permissions: missing.join(', ') });
    const paused = deps.kie.circuit.pauseReason();
    if (paused) throw new UserFacingError(paused === 'credits' ? 'refusal.paused_credits' : 'refusal.paused_maintenance');
  }

  async function executePrompt(interaction: ChatInputCommandInteraction): Promise<void> {
    const prompt = interaction.options.getString('prompt', true).trim();
    if (prompt.length === 0) throw new UserFacingError('refusal.prompt_empty', { max: PROMPT_MAX });
    if (prompt.length > PROMPT_MAX) {
      throw new UserFacingError('refusal.prompt_too_long', { length: prompt.length, max: PROMPT_MAX });
    }
    const modelOption = interaction.options.getString('model');
    const model: VeoModel = modelOption && MODELS.has(modelOption) ? (modelOption as VeoModel) : config.defaultModel;
    const aspectOption = interaction.options.getString('aspect');
    const aspectRatio: AspectRatio = aspectOption && PROMPT_ASPECTS.has(aspectOption) ? (aspectOption as AspectRatio) : '16:9';
    const seed = interaction.options.getInteger('seed');
    if (seed !== null && (seed < SEED_MIN || seed > SEED_MAX)) throw new UserFacingError('refusal.seed_range');
    const isPrivate = interaction.options.getBoolean('private') ?? false;
    preflight(interaction);

    const jobId = newJobId();
    const scope = { guildId: interaction.guildId, userId: interaction.user.id };
    const reservation = await quota.reserve(scope, jobId, model);
    if (!reservation.ok) throw refusalFor(reservation, model, config.quota.maxActiveJobs);

    const now = clock.now();
    const job: JobRecord = {
      id: jobId,
      requesterId: interaction.user.id,
      guildId: interaction.guildId,
      channelId: interaction.channelId,
      locale: interaction.locale,
      private: isPrivate,
      interaction: {
        id: interaction.id,
        token: interaction.token,
        createdAt: interaction.createdTimestamp,
        tokenDead: false,
        attachmentSizeLimit: interaction.attachmentSizeLimit ?? null,
      },
      messageId: null,
      options: { prompt, model, aspectRatio, seed, imageUrls: [] },
      units: reservation.units,
      state: 'queued',
      createdAt: now,
      updatedAt: now,
      submittedAt: null,
      finishedAt: null,
      taskId: null,
      resultUrls: [],
      failure: null,
      refunded: false,
      lateUntil: null,
      late: false,
      deliveryAttempts: [],
      deliveredMessageId: null,
      deliveryFailures: 0,
      firstDeliveryFailureAt: null,
      status: null,
      hd: null,
    };
    try {
      await jobs.create(job);
    } catch (error) {
      await quota.refund(scope, jobId);
      throw error;
    }
    let messageId: string | null;
    try {
      const response = await interaction.deferReply({
        withResponse: true,
        ...(isPrivate ? { flags: MessageFlags.Ephemeral } : {}),
      });
      messageId = response.resource?.message?.id ?? null;
    } catch (error) {
      // Never acknowledged: nobody waits on this job, so it ends here at no cost.
      await jobs.update(jobId, (j) => ({ ...j, state: 'failed', failure: { reason: 'unknown', policyText: null } }));
      await quota.refund(scope, jobId);
      throw error;
    }
    const stored = await jobs.update(jobId, (j) => ({ ...j, messageId }));
    logger.info({ jobId, interactionId: interaction.id, model, promptLength: prompt.length, guildId: interaction.guildId }, 'job accepted');
    runner.submit(stored);
  }

  async function onHdClick(interaction: ButtonInteraction, jobId: string): Promise<void> {
    const claim = await deps.hd.claim(jobId, {
      interactionId: interaction.id,
      token: interaction.token,
      channelId: interaction.channelId,
      userId: interaction.user.id,
      attachmentSizeLimit: interaction.attachmentSizeLimit ?? null,
    });
    const locale = interaction.locale;
    const ephemeral = { flags: MessageFlags.Ephemeral } as const;
    if (claim.kind === 'missing') throw new UserFacingError('error.job_not_found');
    if (claim.kind === 'not_ready') throw new UserFacingError('hd.not_ready');
    if (claim.kind === 'already') {
      await interaction.reply({ content: t(locale, 'hd.already'), ...ephemeral });
      return;
    }
    if (claim.kind === 'ready') {
      await interaction.reply({ content: t(locale, 'hd.ready', { url: claim.url }), ...ephemeral });
      return;
    }
    let replyId: string | null;
    try {
      const response = await interaction.deferReply({
        withResponse: true,
        ...(claim.job.private ? ephemeral : {}),
      });
      replyId = response.resource?.message?.id ?? null;
    } catch (error) {
      await deps.hd.release(jobId);
      throw error;
    }
    await deps.hd.start(jobId, replyId);
  }

  return {
    data: veoCommandData,
    async execute(interaction) {
      const sub = interaction.options.getSubcommand(true);
      if (sub === 'prompt') await executePrompt(interaction);
      else throw new UserFacingError('error.generic');
    },
    buttons: { [CustomIdPrefix.Upscale1080p]: onHdClick },
  };
}
