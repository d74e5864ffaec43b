import { PermissionFlagsBits } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { admin, ephemeralText, member, OPTION, prompt, quota } from './helpers/commands.js';
import { bodyOf, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';
import { DEFAULT_BOT_PERMISSIONS } from './helpers/loopbackDiscord.js';

const MEMBER_B = '900000000000000042';

async function settled<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the expected state was never reached');
}

describe('quotas and refusals end to end (real discord.js client, loopback Discord and kie, SQLite)', () => {
  let h: Harness;

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  const scope = () => ({ guildId: h.discord.guild.id, userId: h.discord.userId });

  it('GIVEN a delivered video THEN its footer shows the units left, and a failed one leaves /veo quota unchanged', async () => {
    h = await startHarness();
    const first = await prompt(h, 'a paper boat drifting down a rainy street');
    await h.job(first.interactionId, (j) => j.state === 'delivered');
    const final = h.discord
      .requestsAfter(first.seq)
      .filter((r) => isOriginalEdit(r, first.token))
      .at(-1)!;
    const embeds = bodyOf(final).embeds as { footer?: { text?: string } }[];
    expect(embeds[0]?.footer?.text).toBe('4 of 5 units left');
    // The record says delivered a moment before the ledger closes the job.
    await settled(
      () => h.bot.quota.status(scope()),
      (s) => s.activeJobs === 0,
    );

    const before = await ephemeralText(h, await quota(h));
    expect(before).toMatch(
      /^\*\*4 of 5 units left\*\* · next unit back <t:\d+:R>\n0 units held by running jobs · 0 of 2 active jobs/,
    );

    h.kie.autoComplete = { afterReads: 1, outcome: { errorCode: 500, errorMessage: 'internal error' } };
    const failing = await prompt(h, 'a second video that the service fails');
    const failed = await h.job(
      failing.interactionId,
      (j) => j.state === 'failed' && j.refunded && j.noticePending !== true,
    );
    expect(failed.units).toBe(1);

    const after = await ephemeralText(h, await quota(h));
    expect(after).toBe(before);
    expect(h.kie.generateRequests()).toHaveLength(2);
  });

  it('GIVEN a running job THEN /veo quota shows the units it holds and the active job', async () => {
    h = await startHarness();
    h.kie.autoComplete = null;
    const running = await prompt(h, 'a slow sunrise over mountains', {
      options: [{ name: 'model', type: OPTION.string, value: 'veo3' }],
    });
    await h.job(running.interactionId, (j) => j.state === 'generating');
    const text = await ephemeralText(h, await quota(h));
    expect(text).toContain('**1 of 5 units left** · next unit back <t:');
    expect(text).toContain('4 units held by running jobs · 1 of 2 active jobs');
  });

  it('GIVEN a member blocked by an admin WHEN they ask for a video THEN they are refused, with no kie call and no charge', async () => {
    h = await startHarness();
    expect(await ephemeralText(h, await admin(h, 'block', [member(h.discord.userId)]))).toContain(
      'can no longer generate videos here',
    );

    const refused = await prompt(h, 'a video from a blocked member');
    expect(await ephemeralText(h, refused)).toContain('A server admin has blocked you from generating videos here.');
    expect(h.kie.generateRequests()).toEqual([]);
    expect(await h.bot.quota.status(scope())).toMatchObject({ used: 0, activeJobs: 0 });
    expect(await ephemeralText(h, await quota(h))).toContain('blocked you');

    expect(await ephemeralText(h, await admin(h, 'unblock', [member(h.discord.userId)]))).toContain(
      'can generate videos here again',
    );
    const allowed = await prompt(h, 'a video after the unblock');
    await h.job(allowed.interactionId, (j) => j.state === 'delivered');
    expect(h.kie.generateRequests()).toHaveLength(1);
  });

  it('GIVEN a server budget WHEN it is spent THEN the next job is refused with when it frees up, and not sent to kie', async () => {
    h = await startHarness();
    expect(
      await ephemeralText(h, await admin(h, 'budget', [{ name: 'units', type: OPTION.integer, value: 1 }])),
    ).toContain('Server budget set to 1 units');
    const first = await prompt(h, 'the one video the budget allows');
    await h.job(first.interactionId, (j) => j.state === 'delivered');

    const second = await prompt(h, 'one video too many', { userId: MEMBER_B });
    const text = await ephemeralText(h, second);
    expect(text).toMatch(/shared video budget for the last 24 hours is spent\. Enough frees up <t:\d+:R>\./);
    expect(h.kie.generateRequests()).toHaveLength(1);
    expect(await h.bot.quota.status({ guildId: h.discord.guild.id, userId: MEMBER_B })).toMatchObject({ used: 0 });
  });

  it('GIVEN a channel without Attach Files for the bot THEN the refusal names it and kie is never called', async () => {
    h = await startHarness();
    h.discord.setBotPermissions(h.discord.guild.channelId, DEFAULT_BOT_PERMISSIONS & ~PermissionFlagsBits.AttachFiles);
    const handle = await prompt(h, 'a video the bot could not post here');
    const text = await ephemeralText(h, handle);
    expect(text).toContain('I am missing Attach Files in this channel');
    expect(text).not.toContain('Embed Links');
    expect(h.kie.requests.filter((r) => r.path.includes('/veo/'))).toEqual([]);
    expect(await h.bot.quota.status(scope())).toMatchObject({ used: 0 });
  });

  it('GIVEN several refusals at once THEN the first in DESIGN §1.4 order speaks, and none of them costs anything', async () => {
    h = await startHarness({ env: { QUOTA_LIMIT: '1', MAX_ACTIVE_JOBS_PER_USER: '1' } });
    h.kie.autoComplete = null;
    const running = await prompt(h, 'a job that keeps running');
    await h.job(running.interactionId, (j) => j.state === 'generating');
    // Now the member is both at their allowance (1 of 1) and at their active-job cap (1 of 1).
    const say = async (extra: Parameters<typeof prompt>[2] = {}) =>
      ephemeralText(h, await prompt(h, 'one more', extra));

    expect(await say()).toContain('You already have 1 videos in progress here. Try again when one of them finishes.');
    // Each admin answer is awaited: only then is the change stored.
    await ephemeralText(h, await admin(h, 'budget', [{ name: 'units', type: OPTION.integer, value: 1 }]));
    expect(await say()).toContain('shared video budget');
    await ephemeralText(h, await admin(h, 'block', [member(h.discord.userId)]));
    expect(await say()).toContain('blocked you');
    h.bot.kie.circuit.open('credits');
    expect(await say()).toContain('out of credits');
    h.discord.setBotPermissions(h.discord.guild.channelId, DEFAULT_BOT_PERMISSIONS & ~PermissionFlagsBits.EmbedLinks);
    expect(await say()).toContain('missing Embed Links');
    h.discord.setBotPermissions(h.discord.guild.channelId, DEFAULT_BOT_PERMISSIONS);
    expect(await say({ guildId: null })).toContain('This bot works in servers only.');
    h.bot.kie.circuit.close();

    expect(h.kie.generateRequests()).toHaveLength(1);
    expect(await h.bot.quota.status(scope())).toMatchObject({ used: 1, held: 0, activeJobs: 1 });
    expect(await h.bot.quota.serverUsage(h.discord.guild.id)).toMatchObject({ used: 1 });
  });
});
