import { Options, type CacheFactory, type CacheWithLimitsOptions, type Channel } from 'discord.js';

/**
 * Managers the typings leave out of `CacheWithLimitsOptions`, because discord.js computes permissions
 * from them ("unsupported and will break functionality"). The bot computes none: it reads
 * `app_permissions` and `member.permissions` from each interaction, so emptying them breaks nothing it uses.
 */
interface UntypedLimits {
  readonly ChannelManager: { readonly maxSize: 0; readonly keepOverLimit: (channel: Channel) => boolean };
  readonly GuildChannelManager: 0;
  readonly RoleManager: 0;
  readonly PermissionOverwriteManager: 0;
}

/** Every cache the typings allow limiting, emptied: the Guilds intent fills few of them, none the bot reads. */
const EMPTY: Required<CacheWithLimitsOptions> = {
  ApplicationCommandManager: 0,
  ApplicationEmojiManager: 0,
  AutoModerationRuleManager: 0,
  BaseGuildEmojiManager: 0,
  DMMessageManager: 0,
  EntitlementManager: 0,
  GuildBanManager: 0,
  GuildEmojiManager: 0,
  GuildForumThreadManager: 0,
  GuildInviteManager: 0,
  GuildMemberManager: 0,
  GuildMessageManager: 0,
  GuildScheduledEventManager: 0,
  GuildStickerManager: 0,
  GuildTextThreadManager: 0,
  MessageManager: 0,
  PresenceManager: 0,
  ReactionManager: 0,
  ReactionUserManager: 0,
  StageInstanceManager: 0,
  ThreadManager: 0,
  ThreadMemberManager: 0,
  UserManager: 0,
  VoiceStateManager: 0,
};

/**
 * The client's `makeCache`: guilds, and the threads among channels, nothing else (DESIGN §2). The bot
 * reads `guilds.cache` (`premiumTier`, `has`) and `interaction.channel?.isThread()`, which discord.js
 * answers from `client.channels.cache`; a typical guild then costs about 5 KB instead of 45 KB.
 */
export function guildsAndThreadsCache(): CacheFactory {
  const untyped: UntypedLimits = {
    ChannelManager: { maxSize: 0, keepOverLimit: (channel) => channel.isThread() },
    GuildChannelManager: 0,
    RoleManager: 0,
    PermissionOverwriteManager: 0,
  };
  const limits: CacheWithLimitsOptions = Object.assign({}, EMPTY, untyped);
  return Options.cacheWithLimits(limits);
}
