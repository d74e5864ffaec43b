/**
 * The loopback Discord itself, driven by the real discord.js client (no mocks): login, interactions,
 * responses, Discord's rules and fault injection. Order and causality only, never wall time.
 */
import {
  ApplicationCommandOptionType,
  AttachmentBuilder,
  ButtonStyle,
  ComponentType,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  MessageFlags,
  PermissionFlagsBits,
  Routes,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type InteractionReplyOptions,
  type TextChannel,
} from 'discord.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkCommandNames, validateDiscordRequest } from './helpers/discordSchemas.js';
import {
  DEFAULT_BOT_PERMISSIONS,
  discordUploadLimit,
  LoopbackDiscord,
  type RecordedRequest,
} from './helpers/loopbackDiscord.js';

const MiB = 1024 * 1024;

let loopback: LoopbackDiscord;
let client: Client | undefined;

beforeEach(async () => {
  loopback = await LoopbackDiscord.start();
});

afterEach(async () => {
  await client?.destroy();
  client = undefined;
  await loopback.close();
});

async function startClient(): Promise<Client> {
  const c = new Client({
    intents: [GatewayIntentBits.Guilds],
    rest: { api: loopback.apiBase },
    waitGuildTimeout: 2000,
  });
  client = c;
  const ready = new Promise<void>((resolve) => c.once(Events.ClientReady, () => resolve()));
  await c.login(loopback.botToken);
  await ready;
  return c;
}

function nextInteraction<T extends Interaction>(c: Client, guard: (i: Interaction) => i is T): Promise<T> {
  return new Promise((resolve) => {
    const listener = (i: Interaction): void => {
      if (!guard(i)) return;
      c.off(Events.InteractionCreate, listener);
      resolve(i);
    };
    c.on(Events.InteractionCreate, listener);
  });
}

const isChatInput = (i: Interaction): i is ChatInputCommandInteraction => i.isChatInputCommand();
const isButton = (i: Interaction): i is ButtonInteraction => i.isButton();

/** Dispatch a /veo generate command and wait for discord.js to hand it over. */
async function veoCommand(c: Client, extra: { attachmentSizeLimit?: number } = {}) {
  const received = nextInteraction(c, isChatInput);
  const sent = await loopback.slashCommand({
    name: 'veo',
    subcommand: 'generate',
    options: [
      { name: 'prompt', type: 3, value: 'a red fox in the snow' },
      { name: 'image', type: 11, value: '900000000000000001' },
    ],
    attachments: [
      {
        id: '900000000000000001',
        filename: 'fox.png',
        size: 2048,
        contentType: 'image/png',
        url: 'https://cdn.example/fox.png',
      },
    ],
    ...extra,
  });
  return { sent, interaction: await received };
}

const rest = (after: number): RecordedRequest[] => loopback.requestsAfter(after).filter((r) => r.method !== 'GATEWAY');

describe('loopback Discord with the real discord.js client', () => {
  it('logs the client in: READY, GUILD_CREATE, clientReady with the guild cached', async () => {
    const c = await startClient();
    await loopback.waitForReady();

    expect(loopback.identifyCount).toBe(1);
    const guild = c.guilds.cache.get(loopback.guild.id);
    expect(guild?.name).toBe(loopback.guild.name);
    expect(guild?.channels.cache.has(loopback.guild.channelId)).toBe(true);
    expect(c.user?.id).toBe(loopback.botUserId);
    expect(c.application?.id).toBe(loopback.applicationId);

    const ops = loopback.requests.map((r) => r.operation);
    expect(ops.indexOf('getBotGateway')).toBeLessThan(ops.indexOf('READY'));
    expect(ops.indexOf('READY')).toBeLessThan(ops.indexOf('GUILD_CREATE'));
    expect(loopback.violations).toEqual([]);
  });

  it('delivers a slash command; deferReply(withResponse) then editReply with a file are recorded in order', async () => {
    const c = await startClient();
    const { sent, interaction } = await veoCommand(c);

    expect(interaction.id).toBe(sent.interactionId);
    expect(interaction.commandName).toBe('veo');
    expect(interaction.options.getSubcommand()).toBe('generate');
    expect(interaction.options.getString('prompt')).toBe('a red fox in the snow');
    expect(interaction.options.getAttachment('image')?.name).toBe('fox.png');
    expect(interaction.guildId).toBe(loopback.guild.id);
    expect(interaction.attachmentSizeLimit).toBe(10 * 1024 * 1024);

    const response = await interaction.deferReply({ flags: MessageFlags.Ephemeral, withResponse: true });
    const deferred = response.resource?.message;
    expect(deferred?.flags.has(MessageFlags.Loading)).toBe(true);
    expect(deferred?.flags.has(MessageFlags.Ephemeral)).toBe(true);

    const video = Buffer.alloc(4096, 1);
    const edited = await interaction.editReply({
      content: 'Your video is ready',
      files: [new AttachmentBuilder(video, { name: 'fox.mp4' })],
    });
    expect(edited.id).toBe(deferred?.id);
    expect(edited.attachments.first()?.size).toBe(4096);

    const [defer, edit] = rest(sent.seq);
    expect(defer?.operation).toBe('createInteractionResponse');
    expect(defer?.query.with_response).toBe('true');
    expect(defer?.body).toMatchObject({ type: 5, data: { flags: 64 } });
    expect(defer?.authorization).toBeUndefined();
    expect(edit?.operation).toBe('updateOriginalWebhookMessage');
    expect(edit?.body).toMatchObject({ content: 'Your video is ready' });
    expect(edit?.files.map((f) => [f.fileName, f.size])).toEqual([['fox.mp4', 4096]]);

    const stored = loopback.originalMessage(sent.token);
    expect(stored?.content).toBe('Your video is ready');
    expect(stored?.flags).toBe(64);
    expect(stored?.attachments[0]?.bytes.equals(video)).toBe(true);
    expect(loopback.violations).toEqual([]);
  });

  it('answers a second acknowledgement with 40060 and records it', async () => {
    const c = await startClient();
    const { sent, interaction } = await veoCommand(c);
    await interaction.deferReply();
    // discord.js refuses a second reply locally, so send it the way a second process would.
    const second = c.rest.post(Routes.interactionCallback(interaction.id, interaction.token), {
      body: { type: 4, data: { content: 'again' } },
      auth: false,
    });
    await expect(second).rejects.toSatisfy(
      (e: unknown) => e instanceof DiscordAPIError && e.code === 40060 && e.status === 400,
    );
    expect(rest(sent.seq).map((r) => r.status)).toEqual([204, 400]);
    expect(loopback.violations).toHaveLength(1);
    expect(loopback.violations[0]).toMatch(/acknowledged twice/);
  });

  it('refuses a file over attachment_size_limit with 413 / 40005', async () => {
    const c = await startClient();
    const { interaction } = await veoCommand(c, { attachmentSizeLimit: 1024 });
    expect(interaction.attachmentSizeLimit).toBe(1024);
    await interaction.deferReply();
    const tooBig = interaction.editReply({ files: [new AttachmentBuilder(Buffer.alloc(1025), { name: 'big.mp4' })] });
    await expect(tooBig).rejects.toSatisfy(
      (e: unknown) => e instanceof DiscordAPIError && e.code === 40005 && e.status === 413,
    );
    expect(loopback.violations).toEqual([expect.stringMatching(/big\.mp4 is 1025 bytes/)]);
    // A file at the limit goes through.
    await interaction.editReply({ files: [new AttachmentBuilder(Buffer.alloc(1024), { name: 'ok.mp4' })] });
  });

  it('records a schema violation for a bad body (custom_id of 101 characters) and refuses it', async () => {
    const c = await startClient();
    const { sent, interaction } = await veoCommand(c);
    // Raw JSON past discord.js's builders, as a bot bug would produce it.
    const row = {
      toJSON: () => ({ type: 1, components: [{ type: 2, style: 1, label: 'Go', custom_id: 'x'.repeat(101) }] }),
    };
    const reply = interaction.reply({ content: 'pick', components: [row] } as unknown as InteractionReplyOptions);
    await expect(reply).rejects.toSatisfy((e: unknown) => e instanceof DiscordAPIError && e.code === 50035);
    const [callback] = rest(sent.seq);
    expect(callback?.operation).toBe('createInteractionResponse');
    expect(callback?.violations.join('\n')).toMatch(/custom_id/);
    expect(loopback.violations.length).toBeGreaterThan(0);
    // The refused callback did not acknowledge the interaction: a correct one still works.
    interaction.replied = false;
    await interaction.reply({ content: 'fixed' });
    expect(loopback.originalMessage(sent.token)?.content).toBe('fixed');
  });

  it('rejects editReply with 50027 once the token has expired', async () => {
    const c = await startClient();
    const { sent, interaction } = await veoCommand(c);
    await interaction.deferReply();
    loopback.expireToken(sent.token);
    await expect(interaction.editReply({ content: 'too late' })).rejects.toSatisfy(
      (e: unknown) => e instanceof DiscordAPIError && e.code === 50027 && e.status === 401,
    );
    expect(loopback.violations).toEqual([]);
  });

  it('flags an edit after a defer that sets a flag other than EPHEMERAL', async () => {
    const c = await startClient();
    const { interaction } = await veoCommand(c);
    await interaction.deferReply();
    await interaction.editReply({ content: 'done', flags: MessageFlags.SuppressEmbeds });
    expect(loopback.violations).toEqual([expect.stringMatching(/edit after a defer sets flags 4/)]);
  });

  it('expires interaction tokens 15 minutes after the interaction (loopback clock)', async () => {
    await loopback.close();
    let now = Date.now();
    loopback = await LoopbackDiscord.start({ now: () => now });
    const c = await startClient();
    const { interaction } = await veoCommand(c);
    await interaction.deferReply();
    now += 14 * 60_000;
    await interaction.editReply({ content: 'still in time' });
    now += 60_000;
    await expect(interaction.followUp({ content: 'too late' })).rejects.toSatisfy(
      (e: unknown) => e instanceof DiscordAPIError && e.code === 50027,
    );
    expect(loopback.violations).toEqual([]);
  });

  it('by default, an acknowledgement 3001 ms after the dispatch gets 10062 and a violation; at 3000 ms it is in time', async () => {
    await loopback.close();
    let now = Date.now();
    loopback = await LoopbackDiscord.start({ now: () => now });
    const c = await startClient();
    const late = await veoCommand(c);
    now += 3001;
    await expect(late.interaction.deferReply()).rejects.toSatisfy(
      (e: unknown) => e instanceof DiscordAPIError && e.code === 10062 && e.status === 404,
    );
    expect(loopback.violations).toEqual([expect.stringMatching(/acknowledged 3001 ms after the dispatch/)]);
    const onTime = await veoCommand(c);
    now += 3000;
    await onTime.interaction.deferReply();
    expect(loopback.originalMessage(onTime.sent.token)?.flags).toBe(MessageFlags.Loading);
    expect(loopback.violations).toHaveLength(1);
  });

  it('with ackDeadlineMs: false (a named opt-out), a late acknowledgement is accepted', async () => {
    await loopback.close();
    let now = Date.now();
    loopback = await LoopbackDiscord.start({ now: () => now, ackDeadlineMs: false });
    const c = await startClient();
    const { sent, interaction } = await veoCommand(c);
    now += 60_000;
    await interaction.reply({ content: 'a minute later' });
    expect(loopback.originalMessage(sent.token)?.content).toBe('a minute later');
    expect(loopback.violations).toEqual([]);
  });

  it('dedupes a channel message by nonce when enforce_nonce is set', async () => {
    const c = await startClient();
    const channel = c.channels.cache.get(loopback.guild.channelId) as TextChannel;
    const first = await channel.send({ content: 'delivery', nonce: '4242', enforceNonce: true });
    const second = await channel.send({ content: 'delivery', nonce: '4242', enforceNonce: true });
    expect(second.id).toBe(first.id);
    expect(loopback.channelMessages(loopback.guild.channelId).map((m) => m.id)).toEqual([first.id]);
    const posts = loopback.requests.filter((r) => r.operation === 'createMessage');
    expect(posts.map((r) => r.body)).toEqual([
      expect.objectContaining({ nonce: '4242', enforce_nonce: true }),
      expect.objectContaining({ nonce: '4242' }),
    ]);
    const listed = await channel.messages.fetch({ limit: 10 });
    expect([...listed.keys()]).toEqual([first.id]);
    expect(loopback.violations).toEqual([]);
  });

  it('registers commands (numeric-string permissions accepted) and refuses an uppercase name', async () => {
    const c = await startClient();
    const app = c.application;
    if (!app) throw new Error('no application');
    const commands = await app.commands.set(
      [
        {
          name: 'veo',
          description: 'Make a video',
          defaultMemberPermissions: '2048',
          nameLocalizations: { fr: 'vidéo', hi: 'वीडियो' },
          options: [
            {
              type: ApplicationCommandOptionType.Subcommand,
              name: 'generate',
              description: 'From a prompt',
              options: [
                {
                  type: ApplicationCommandOptionType.String,
                  name: 'prompt',
                  description: 'What to film',
                  required: true,
                },
              ],
            },
          ],
        },
      ],
      loopback.guild.id,
    );
    expect(commands.first()?.name).toBe('veo');
    expect(loopback.registeredCommands(loopback.guild.id)[0]).toMatchObject({
      name: 'veo',
      default_member_permissions: '2048',
    });
    expect(loopback.violations).toEqual([]);

    await expect(app.commands.set([{ name: 'Veo', description: 'Make a video' }])).rejects.toSatisfy(
      (e: unknown) => e instanceof DiscordAPIError && e.code === 50035,
    );
    expect(loopback.violations).toEqual([expect.stringMatching(/"Veo" has uppercase/)]);
  });

  it('routes a button click to the message and updates it (type 7)', async () => {
    const c = await startClient();
    const channel = c.channels.cache.get(loopback.guild.channelId) as TextChannel;
    const posted = await channel.send({
      content: 'ready',
      components: [
        {
          type: ComponentType.ActionRow,
          components: [
            { type: ComponentType.Button, style: ButtonStyle.Primary, label: '1080p', custom_id: 'hd:job1' },
          ],
        },
      ],
    });
    const received = nextInteraction(c, isButton);
    const sent = await loopback.buttonClick({ customId: 'hd:job1', messageId: posted.id });
    const click = await received;
    expect(click.customId).toBe('hd:job1');
    expect(click.message.id).toBe(posted.id);
    await click.update({ content: 'upscaling', components: [] });
    expect(loopback.messages.get(posted.id)?.content).toBe('upscaling');
    expect(rest(sent.seq)[0]?.body).toMatchObject({ type: 7 });
    expect(loopback.violations).toEqual([]);
  });

  it('failNext injects errors that discord.js retries (429 with retry_after, 500)', async () => {
    const c = await startClient();
    const channel = c.channels.cache.get(loopback.guild.channelId) as TextChannel;
    loopback.failNext(
      { method: 'POST', pathIncludes: /\/messages$/ },
      { status: 429, code: 0, message: 'You are being rate limited.', retryAfter: 0.01 },
    );
    loopback.failNext(
      { method: 'POST', pathIncludes: '/messages' },
      { status: 500, code: 0, message: 'Internal Server Error' },
    );
    const message = await channel.send('after faults');
    const statuses = loopback.requests.filter((r) => r.operation === 'createMessage').map((r) => r.status);
    expect(statuses).toEqual([429, 500, 200]);
    expect(loopback.channelMessages(channel.id).map((m) => m.id)).toEqual([message.id]);
  });

  it('survives a gateway disconnect: the client resumes and still gets interactions', async () => {
    const c = await startClient();
    loopback.disconnectGateway();
    const { interaction } = await veoCommand(c);
    await interaction.reply({ content: 'still here', flags: MessageFlags.Ephemeral });
    // Close code 4000 makes discord.js RESUME the session instead of identifying again.
    expect(loopback.identifyCount).toBe(1);
    expect(loopback.resumeCount).toBe(1);
    expect(loopback.requests.map((r) => r.operation)).toContain('RESUMED');
    expect(loopback.violations).toEqual([]);
  });

  it('serves DMs and follow-ups; the first follow-up after a defer fills the deferred reply', async () => {
    const c = await startClient();
    const received = nextInteraction(c, isChatInput);
    const sent = await loopback.slashCommand({ name: 'veo', subcommand: 'status', guildId: null });
    const interaction = await received;
    expect(interaction.guildId).toBeNull();
    await interaction.deferReply();
    const first = await interaction.followUp({ content: 'done' });
    const second = await interaction.followUp({ content: 'and more', flags: MessageFlags.Ephemeral });
    expect(first.id).toBe(loopback.originalMessage(sent.token)?.id);
    expect(second.id).not.toBe(first.id);
    const dm = await c.users.createDM(loopback.userId);
    expect(dm.id).toBe(loopback.dmChannelId(loopback.userId));
    await dm.send('hello');
    expect(loopback.channelMessages(dm.id).map((m) => m.content)).toEqual(['done', 'and more', 'hello']);
    expect(loopback.violations).toEqual([]);
  });
});

const P = PermissionFlagsBits;

/** What Discord answers a bot-token request with, as discord.js reports it. */
async function discordCode(request: Promise<unknown>): Promise<number | string | null> {
  try {
    await request;
    return null;
  } catch (error) {
    if (error instanceof DiscordAPIError) return error.code;
    throw error;
  }
}

describe('loopback Discord enforces channel permissions and upload limits on bot-token requests', () => {
  const video = (bytes: number) => ({ files: [{ name: 'v.mp4', data: Buffer.alloc(bytes) }] });

  it('GIVEN no View Channel THEN every channel route answers 403 / 50001 Missing Access', async () => {
    const c = await startClient();
    const id = loopback.guild.channelId;
    const posted = await c.rest.post(Routes.channelMessages(id), { body: { content: 'before' } });
    const messageId = (posted as { id: string }).id;
    loopback.setBotPermissions(id, DEFAULT_BOT_PERMISSIONS & ~P.ViewChannel);
    expect(await discordCode(c.rest.post(Routes.channelMessages(id), { body: { content: 'x' } }))).toBe(50001);
    expect(await discordCode(c.rest.patch(Routes.channelMessage(id, messageId), { body: { content: 'y' } }))).toBe(
      50001,
    );
    expect(await discordCode(c.rest.get(Routes.channelMessages(id)))).toBe(50001);
    expect(await discordCode(c.rest.get(Routes.channel(id)))).toBe(50001);
    expect(loopback.channelMessages(id).map((m) => m.content)).toEqual(['before']);
  });

  it('GIVEN no Send Messages THEN a post is 50013, while a thread needs Send Messages in Threads instead', async () => {
    const c = await startClient();
    const { channelId, threadId } = loopback.guild;
    const post = (id: string) => discordCode(c.rest.post(Routes.channelMessages(id), { body: { content: 'hi' } }));
    loopback.setBotPermissions(channelId, DEFAULT_BOT_PERMISSIONS & ~P.SendMessages);
    expect(await post(channelId)).toBe(50013);
    expect(await post(threadId!)).toBeNull();
    loopback.setBotPermissions(channelId, DEFAULT_BOT_PERMISSIONS & ~P.SendMessagesInThreads);
    expect(await post(channelId)).toBeNull();
    expect(await post(threadId!)).toBe(50013);
    expect(loopback.violations).toEqual([]);
  });

  it('GIVEN no Attach Files THEN a post or an edit with a file is 50013 and the same without one goes through', async () => {
    const c = await startClient();
    const id = loopback.guild.channelId;
    loopback.setBotPermissions(id, DEFAULT_BOT_PERMISSIONS & ~P.AttachFiles);
    expect(await discordCode(c.rest.post(Routes.channelMessages(id), { body: { content: 'v' }, ...video(10) }))).toBe(
      50013,
    );
    const posted = (await c.rest.post(Routes.channelMessages(id), { body: { content: 'v' } })) as { id: string };
    expect(
      await discordCode(c.rest.patch(Routes.channelMessage(id, posted.id), { body: { content: 'v' }, ...video(10) })),
    ).toBe(50013);
    expect(loopback.messages.get(posted.id)?.attachments).toEqual([]);
  });

  it('GIVEN no Embed Links THEN Discord drops the embeds: content is posted without them, an embed-only post is empty (50006)', async () => {
    const c = await startClient();
    const id = loopback.guild.channelId;
    loopback.setBotPermissions(id, DEFAULT_BOT_PERMISSIONS & ~P.EmbedLinks);
    const embeds = [{ description: 'details' }];
    const posted = (await c.rest.post(Routes.channelMessages(id), { body: { content: 'ready', embeds } })) as {
      id: string;
      embeds: unknown[];
    };
    expect(posted.embeds).toEqual([]);
    expect(loopback.messages.get(posted.id)).toMatchObject({ content: 'ready', embeds: [] });
    expect(await discordCode(c.rest.post(Routes.channelMessages(id), { body: { embeds } }))).toBe(50006);
    expect(loopback.violations).toEqual([expect.stringMatching(/empty once Discord dropped its embeds/)]);
  });

  it('GIVEN no Read Message History THEN listing messages answers [] and fetching one is 50001', async () => {
    const c = await startClient();
    const id = loopback.guild.channelId;
    const posted = (await c.rest.post(Routes.channelMessages(id), { body: { content: 'kept' } })) as { id: string };
    expect(await c.rest.get(Routes.channelMessages(id))).toEqual([expect.objectContaining({ id: posted.id })]);
    loopback.setBotPermissions(id, DEFAULT_BOT_PERMISSIONS & ~P.ReadMessageHistory);
    expect(await c.rest.get(Routes.channelMessages(id))).toEqual([]);
    expect(await discordCode(c.rest.get(Routes.channelMessage(id, posted.id)))).toBe(50001);
  });

  it('GIVEN the channel fixture THEN interactions carry it as app_permissions', async () => {
    loopback.setBotPermissions(loopback.guild.channelId, DEFAULT_BOT_PERMISSIONS & ~P.AttachFiles);
    const c = await startClient();
    const { interaction } = await veoCommand(c);
    expect(interaction.appPermissions.has(P.AttachFiles)).toBe(false);
    expect(interaction.appPermissions.has(P.EmbedLinks | P.SendMessages | P.ViewChannel)).toBe(true);
  });

  it('GIVEN an unknown or deleted message THEN edits and reads answer 404 / 10008', async () => {
    const c = await startClient();
    const id = loopback.guild.channelId;
    const posted = (await c.rest.post(Routes.channelMessages(id), { body: { content: 'gone soon' } })) as {
      id: string;
    };
    await c.rest.delete(Routes.channelMessage(id, posted.id));
    expect(await discordCode(c.rest.patch(Routes.channelMessage(id, posted.id), { body: { content: 'x' } }))).toBe(
      10008,
    );
    expect(await discordCode(c.rest.get(Routes.channelMessage(id, '1300000000000000009')))).toBe(10008);
  });

  it("GIVEN boost tier 2 THEN uploads follow Discord's table (50 MiB), not the bot's, and interactions say so", async () => {
    await loopback.close();
    loopback = await LoopbackDiscord.start({
      guilds: [{ id: '1300000000000000001', name: 'Boosted', channelId: '1300000000000000002', premiumTier: 2 }],
    });
    const c = await startClient();
    const { interaction } = await veoCommand(c);
    expect(interaction.attachmentSizeLimit).toBe(50 * MiB);
    const id = loopback.guild.channelId;
    expect(
      await discordCode(c.rest.post(Routes.channelMessages(id), { body: { content: 'big' }, ...video(50 * MiB + 1) })),
    ).toBe(40005);
    expect(
      await discordCode(c.rest.post(Routes.channelMessages(id), { body: { content: 'fits' }, ...video(50 * MiB) })),
    ).toBeNull();
    expect(loopback.violations).toEqual([expect.stringMatching(/over the upload limit for premium tier 2/)]);
    expect(discordUploadLimit(0)).toBe(10 * MiB);
    expect(discordUploadLimit(1)).toBe(10 * MiB);
    expect(discordUploadLimit(3)).toBe(100 * MiB);
  });
});

describe('loopback Discord over plain HTTP', () => {
  it('answers a wrong bot token with 401 / 0 and an unknown route with 404 / 0, both recorded as violations', async () => {
    const wrong = await fetch(`${loopback.apiBase}/v10/users/@me`, { headers: { authorization: 'Bot not-the-token' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ code: 0, message: '401: Unauthorized' });
    const right = await fetch(`${loopback.apiBase}/v10/users/@me`, {
      headers: { authorization: `Bot ${loopback.botToken}` },
    });
    expect(((await right.json()) as { id: string }).id).toBe(loopback.botUserId);
    const unknown = await fetch(`${loopback.apiBase}/v10/guilds/${loopback.guild.id}/members`, {
      headers: { authorization: `Bot ${loopback.botToken}` },
    });
    expect(unknown.status).toBe(404);
    expect(loopback.violations).toEqual([
      expect.stringMatching(/Authorization is not/),
      expect.stringMatching(/unmatched route GET \/guilds\/\d+\/members/),
    ]);
    expect(loopback.requests.map((r) => r.operation)).toEqual(['getMyUser', 'getMyUser', null]);
  });
});

describe('discord request checks', () => {
  it('checkCommandNames enforces the naming rule, lowercase, descriptions and option count', () => {
    expect(
      checkCommandNames([
        { name: 'veo', description: 'Make a video', name_localizations: { hi: 'वीडियो', th: 'วิดีโอ' } },
      ]),
    ).toEqual([]);
    expect(checkCommandNames({ name: 'Veo', description: 'x' })).toEqual([expect.stringMatching(/uppercase/)]);
    expect(checkCommandNames({ name: 'veo', description: 'x', name_localizations: { de: 'Video' } })).toEqual([
      expect.stringMatching(/uppercase/),
    ]);
    expect(checkCommandNames({ name: 'veo gen', description: 'x' })).toEqual([expect.stringMatching(/does not match/)]);
    expect(checkCommandNames({ name: 'veo', description: '' })).toEqual([expect.stringMatching(/description/)]);
    const options = Array.from({ length: 26 }, (_, i) => ({ type: 3, name: `o${i}`, description: 'x' }));
    expect(checkCommandNames({ name: 'veo', description: 'x', options })).toEqual([
      expect.stringMatching(/at most 25 options/),
    ]);
    expect(checkCommandNames({ name: 'Report Message', type: 3, description: '' })).toEqual([]);
  });

  it('validateDiscordRequest maps operations, reports unknown keys, accepts permission strings', () => {
    expect(validateDiscordRequest('POST', '/interactions/1/t/callback', { type: 5, data: { flags: 64 } })).toEqual({
      operation: 'createInteractionResponse',
      violations: [],
      rejected: false,
    });
    const unknown = validateDiscordRequest('PATCH', '/webhooks/1/t/messages/@original', {
      content: 'x',
      ephemeral: true,
    });
    expect(unknown.operation).toBe('updateOriginalWebhookMessage');
    expect(unknown.violations).toEqual([expect.stringMatching(/unknown key "ephemeral"/)]);
    expect(unknown.rejected).toBe(false);
    const perms = validateDiscordRequest('PUT', '/applications/1/commands', [
      { name: 'veo', description: 'x', default_member_permissions: '2048' },
    ]);
    expect(perms).toMatchObject({ operation: 'bulkSetApplicationCommands', violations: [] });
    const long = validateDiscordRequest('POST', '/channels/1/messages', { content: 'x'.repeat(2001) });
    expect(long.rejected).toBe(true);
    expect(validateDiscordRequest('GET', '/guilds/1/members', undefined)).toMatchObject({
      operation: null,
      violations: ['unmatched route GET /guilds/1/members'],
    });
  });
});
