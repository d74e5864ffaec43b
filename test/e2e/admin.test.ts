import { PermissionFlagsBits } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDeployConfig } from '../../src/config.js';
import { deployCommands } from '../../src/deploy-commands.js';
import { admin, ephemeralText, member, OPTION, prompt, quota } from './helpers/commands.js';
import { checkCommandNames } from './helpers/discordSchemas.js';
import { startHarness, type Harness } from './helpers/harness.js';

const MEMBER_B = '900000000000000077';
/** A regular member: can use commands, cannot manage the server. */
const REGULAR = String(
  PermissionFlagsBits.ViewChannel | PermissionFlagsBits.SendMessages | PermissionFlagsBits.UseApplicationCommands,
);

describe('/veo-admin end to end (real discord.js client, loopback Discord and kie, SQLite)', () => {
  let h: Harness;

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  const scopeOf = (userId: string) => ({ guildId: h.discord.guild.id, userId });
  const integer = (name: string, value: number) => ({ name, type: OPTION.integer, value });

  it('registers /veo-admin guild only, for Manage Server, with names Discord accepts', async () => {
    h = await startHarness();
    const base = {
      DISCORD_TOKEN: h.discord.botToken,
      DISCORD_APPLICATION_ID: h.discord.applicationId,
      DISCORD_API_BASE_URL: h.discord.apiBase,
    };
    const route = `/applications/${h.discord.applicationId}/commands`;

    for (const allowDms of ['false', 'true']) {
      const { seq } = h.discord.requests.at(-1)!;
      await deployCommands(loadDeployConfig({ ...base, ALLOW_DMS: allowDms }));
      const put = await h.discord.waitForRequest((r) => r.method === 'PUT' && r.path === route, { afterSeq: seq });
      expect(put.violations).toEqual([]);
      expect(checkCommandNames(put.body)).toEqual([]);
      const byName = new Map((put.body as Record<string, unknown>[]).map((c) => [c.name, c]));
      expect(byName.get('veo-admin')).toMatchObject({
        default_member_permissions: '32',
        contexts: [0],
        integration_types: [0],
      });
      expect(byName.get('veo')).toMatchObject({ contexts: allowDms === 'true' ? [0, 1] : [0] });
      const subcommands = (byName.get('veo-admin')!.options as { name: string }[]).map((o) => o.name);
      expect(subcommands).toEqual([
        'limits',
        'reset',
        'block',
        'unblock',
        'budget',
        'status',
        'forget',
        'watermark',
        'filter',
        'log-channel',
      ]);
      expect(JSON.stringify(byName.get('veo'))).toContain('"name":"quota"');
    }

    await deployCommands(loadDeployConfig({ ...base, DEV_GUILD_ID: h.discord.guild.id }));
    const guildPut = await h.discord.waitForRequest(
      (r) => r.method === 'PUT' && r.path.includes(`/guilds/${h.discord.guild.id}/commands`),
    );
    expect(guildPut.violations).toEqual([]);
    const guildAdmin = (guildPut.body as Record<string, unknown>[]).find((c) => c.name === 'veo-admin');
    expect(guildAdmin).toMatchObject({ default_member_permissions: '32' });
    expect(guildAdmin).not.toHaveProperty('contexts');
    expect(guildAdmin).not.toHaveProperty('integration_types');
  });

  it('GIVEN a member without Manage Server WHEN Discord delivers their /veo-admin reset THEN it is refused and nothing changes', async () => {
    h = await startHarness();
    const job = await prompt(h, 'a kite over a beach');
    await h.job(job.interactionId, (j) => j.state === 'delivered');
    expect(await h.bot.quota.status(scopeOf(h.discord.userId))).toMatchObject({ remaining: 4 });

    // Discord's Integrations overrides can show the command to anyone; the bot checks for itself.
    const refused = await admin(h, 'reset', [member(h.discord.userId)], { memberPermissions: REGULAR });
    expect(await ephemeralText(h, refused)).toContain('You need the Manage Server permission to use `/veo-admin`');
    expect(await h.bot.quota.status(scopeOf(h.discord.userId))).toMatchObject({ remaining: 4 });

    const asAdministrator = String(PermissionFlagsBits.Administrator);
    const reset = await admin(h, 'reset', [member(h.discord.userId)], {
      memberPermissions: asAdministrator,
      userId: MEMBER_B,
    });
    expect(await ephemeralText(h, reset)).toContain(`<@${h.discord.userId}> has a fresh window: 5 of 5 units.`);
    expect(await h.bot.quota.status(scopeOf(h.discord.userId))).toMatchObject({ remaining: 5, used: 0 });
  });

  it('GIVEN /veo-admin outside a server THEN it is refused', async () => {
    h = await startHarness();
    expect(await ephemeralText(h, await admin(h, 'status', [], { guildId: null }))).toContain('works in servers only');
  });

  it('limits: a view, then a limit below a model cost makes it unavailable (refused, no kie call); no-model changes are refused', async () => {
    h = await startHarness();
    const view = await ephemeralText(h, await admin(h, 'limits'));
    expect(view).toContain('Allowance per member: 5 units (default; the bot’s operator allows at most 20)');
    expect(view).toContain('Cost of veo3: 4 units (default; the bot’s operator allows no less than 4)');

    const set = await ephemeralText(
      h,
      await admin(h, 'limits', [integer('limit', 3), integer('max_active', 1), integer('cost_lite', 2)]),
    );
    expect(set).toContain('Limits updated');
    expect(set).toContain('Allowance per member: 3 units (set here;');
    expect(set).toContain('Cost of veo3_lite: 2 units (set here;');
    expect(set).toContain('Not available here (costs more than the allowance or the budget): veo3.');

    const dear = await prompt(h, 'a quality video', {
      options: [{ name: 'model', type: OPTION.string, value: 'veo3' }],
    });
    expect(await ephemeralText(h, dear)).toBe(
      'The veo3 model costs 4 units, more than this server allows, so it is not available here. Pick veo3_fast, veo3_lite.',
    );
    expect(h.kie.generateRequests()).toEqual([]);
    expect(await ephemeralText(h, await quota(h))).toMatch(
      /^\*\*3 of 3 units left\*\*\n0 units held by running jobs · 0 of 1 active jobs\n.*veo3 4 \(not available here\)/,
    );

    const none = await ephemeralText(h, await admin(h, 'limits', [integer('limit', 1), integer('cost_fast', 2)]));
    expect(none).toContain(
      'That would leave no model cheap enough to run here (the cheapest would cost 2 units). Nothing was changed.',
    );
    expect(await h.bot.quota.limits(h.discord.guild.id)).toMatchObject({ limit: 3, maxActiveJobs: 1 });

    const back = await ephemeralText(
      h,
      await admin(h, 'limits', [{ name: 'defaults', type: OPTION.boolean, value: true }]),
    );
    expect(back).toContain('This server now uses the bot’s default limits.');
    expect(await h.bot.quota.limits(h.discord.guild.id)).toMatchObject({
      limit: 5,
      maxActiveJobs: 2,
      available: ['veo3_fast', 'veo3', 'veo3_lite'],
    });
  });

  it('budget: view, set, and 0 removes it', async () => {
    h = await startHarness();
    expect(await ephemeralText(h, await admin(h, 'budget'))).toContain('This server has no budget');
    await ephemeralText(h, await admin(h, 'budget', [integer('units', 10)]));
    const job = await prompt(h, 'a lantern festival at night');
    await h.job(job.interactionId, (j) => j.state === 'delivered');
    const view = await ephemeralText(h, await admin(h, 'budget'));
    expect(view).toContain('Server budget: 10 units per rolling 24 h. 1 used, 9 left.');
    expect(view).toMatch(/The next unit comes back <t:\d+:R>\./);
    expect(await ephemeralText(h, await admin(h, 'budget', [integer('units', 0)]))).toContain('Server budget removed.');
    expect(await h.bot.quota.serverUsage(h.discord.guild.id)).toMatchObject({ budget: null, used: 1 });
  });

  it('status for the application owner: kie credits, the circuit, jobs running here and units used in the last 24 h', async () => {
    h = await startHarness();
    h.kie.credits = 812;
    h.kie.autoComplete = null;
    const running = await prompt(h, 'an hourglass turning slowly', {
      options: [{ name: 'model', type: OPTION.string, value: 'veo3' }],
    });
    await h.job(running.interactionId, (j) => j.state === 'generating');
    const owner = h.discord.applicationOwnerIds[0]!;
    const text = await ephemeralText(h, await admin(h, 'status', [], { userId: owner }));
    expect(text).toContain('kie.ai credits: 812 (read <t:');
    expect(text).toContain('Video service: accepting new videos.');
    expect(text).toContain('Videos in progress in this server: 1');
    expect(text).toContain('Units used in this server in the last 24 h: 4 (4 held by running jobs)');
    expect(h.kie.requests.filter((r) => r.path === '/api/v1/chat/credit')).toHaveLength(1);
  });

  it('forget: deletes the member’s job records and usage in this server', async () => {
    h = await startHarness();
    const job = await prompt(h, 'a snow globe being shaken');
    const done = await h.job(job.interactionId, (j) => j.state === 'delivered');
    const other = await prompt(h, 'another member’s video', { userId: MEMBER_B });
    const kept = await h.job(other.interactionId, (j) => j.state === 'delivered');
    // The ledger closes the job just after the record says delivered.
    for (let i = 0; i < 400 && (await h.bot.quota.status(scopeOf(h.discord.userId))).activeJobs > 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }

    const text = await ephemeralText(h, await admin(h, 'forget', [member(h.discord.userId)], { userId: MEMBER_B }));
    expect(text).toBe(`🗑️ Deleted 1 job records of <@${h.discord.userId}> in this server, and their usage.`);
    expect(await h.bot.jobs.get(done.id)).toBeUndefined();
    expect(await h.bot.jobs.ofMember(h.discord.guild.id, h.discord.userId)).toEqual([]);
    expect(await h.bot.quota.status(scopeOf(h.discord.userId))).toMatchObject({ used: 0, remaining: 5 });
    expect(await h.bot.jobs.get(kept.id)).toBeDefined();
    expect(await h.bot.quota.status(scopeOf(MEMBER_B))).toMatchObject({ used: 1 });
  });
});
