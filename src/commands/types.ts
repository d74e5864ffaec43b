import type {
  ButtonInteraction,
  ChatInputCommandInteraction,
  ModalSubmitInteraction,
  RESTPostAPIChatInputApplicationCommandsJSONBody,
  StringSelectMenuInteraction,
} from 'discord.js';
import type { Config } from '../config.js';
import type { Clock } from '../lib/clock.js';
import type { CustomIdPrefix, SettingsControl } from '../lib/customId.js';
import type { Logger } from '../logger.js';
import type { GuildSettingsStore } from '../services/quota/guildSettings.js';
import type { UpgradeService } from '../services/delivery/hd.js';
import type { JobMirror } from '../services/delivery/mirror.js';
import type { MemberDefaultsStore } from '../services/members/defaults.js';
import type { ImagePreparer } from '../services/kie/images.js';
import type { JobRunner } from '../services/jobs/runner.js';
import type { JobStore } from '../services/jobs/store.js';
import type { KieCircuitState } from '../services/kie/circuit.js';
import type { TaskInfo } from '../services/kie/types.js';
import type { Balance, CreditBudget } from '../services/quota/credits.js';
import type { QuotaService } from '../services/quota/service.js';

export interface CommandDeps {
  readonly config: Config;
  readonly jobs: JobStore;
  readonly runner: JobRunner;
  readonly quota: QuotaService;
  /** The bot's own daily kie-credit budget: every kie spend reserves from it first. */
  readonly credits: CreditBudget;
  /** The bot's operators (OPERATOR_IDS and the application's owner or team): only they see the balance. */
  readonly operators: { isOperator(userId: string): boolean };
  /** The kie balance, read at most every few minutes; null when it could never be read. */
  readonly balance: { get(): Promise<Balance | null> };
  readonly kie: {
    readonly circuit: { pauseReason(): 'credits' | 'maintenance' | null; readonly state: KieCircuitState };
    /** `/veo jobs` re-reads old tasks: kie keeps results 14 days. */
    recordInfo(taskId: string): Promise<TaskInfo>;
  };
  readonly guildSettings: GuildSettingsStore;
  /** Each member's own defaults (`/veo settings`), across servers. */
  readonly memberDefaults: MemberDefaultsStore;
  /** The log channel's mirror: `/veo-admin log-channel` checks a channel with its first post. */
  readonly mirror: Pick<JobMirror, 'welcome'>;
  readonly hd: UpgradeService;
  readonly uhd: UpgradeService;
  readonly images: ImagePreparer;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly isGuildCached: (guildId: string) => boolean;
  /** Whether a URL kie gave may be shown as a link (https, or a trusted media origin). */
  readonly mayLinkMedia: (url: string) => boolean;
}

export type ButtonHandler = (interaction: ButtonInteraction, jobId: string) => Promise<void>;
export type ModalHandler = (interaction: ModalSubmitInteraction, jobId: string) => Promise<void>;
export type SettingsHandler = (
  interaction: StringSelectMenuInteraction | ButtonInteraction,
  control: SettingsControl,
) => Promise<void>;

export interface CommandModule {
  readonly data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  execute(interaction: ChatInputCommandInteraction): Promise<void>;
  readonly buttons: Partial<Record<CustomIdPrefix, ButtonHandler>>;
  /** Modal submits, claimed by the same custom_id prefixes as buttons. */
  readonly modals?: Partial<Record<CustomIdPrefix, ModalHandler>>;
  /** The `/veo settings` message's select menus and button (their own custom_id codec). */
  readonly settings?: SettingsHandler;
}

/** One entry of the command list: its definition (deploy reads it) and how to build its handlers. */
export interface CommandEntry {
  readonly data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  create(deps: CommandDeps): CommandModule;
}
