import { afterEach, describe, expect, it } from 'vitest';
import { admin, ephemeralText, member, OPTION, prompt, quota } from './helpers/commands.js';
import { bodyOf, isCallback, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';
import type { GuildFixture, InteractionHandle } from './helpers/loopbackDiscord.js';

const integer = (name: string, value: number) => ({ name, type: OPTION.integer, value });

/** Guild fixtures with ids of our own, so a test can name the server it speaks in. */
function guilds(count: number): GuildFixture[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `14000000000000000${String(i + 1).padStart(2, '0')}`,
    name: `Server ${i + 1}`,
    channelId: `14100000000000000${String(i + 1).padStart(2, '0')}`,
    premiumTier: 0,
  }));
}

async function until(done: () => boolean | Promise<boolean>, what: string, tries = 600): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never happened: ${what}`);
}

/** The first answer to an interaction: 4 is an immediate reply (a refusal), 5 the defer of an accepted job. */
async function answerType(h: Harness, handle: InteractionHandle): Promise<number> {
  const callback = await h.discord.waitForRequest((r) => isCallback(r, handle.interactionId), { afterSeq: handle.seq });
  return Number(bodyOf(callback).type);
}

function contentOf(body: Record<string, unknown>): string {
  const embeds = (body.embeds ?? []) as { description?: string }[];
  const content = typeof body.content === 'string' ? body.content : '';
  return [content, ...embeds.map((e) => e.description ?? '')].join('\n');
}

describe('a public bot its operator can afford (real discord.js client, loopback Discord and kie, SQLite)', () => {
  let h: Harness;

  afterEach(async () => {
    const violations = [...h.discord.violations];
    await h.close();
    expect(violations).toEqual([]);
  });

  it('GIVEN an admin asking for more than every ceiling THEN the answer says what was held, /veo quota shows the clamped allowance, and a fourth job is refused at SERVER_MAX_ACTIVE_JOBS=3', async () => {
    h = await startHarness({ env: { SERVER_MAX_ACTIVE_JOBS: '3' } });
    h.kie.autoComplete = null;
    const set = await ephemeralText(
      h,
      await admin(h, 'limits', [integer('limit', 1000), integer('window_hours', 1), integer('max_active', 50)]),
    );
    expect(set).toContain(
      'Allowance per member: you asked for 1000 units; the bot’s operator allows at most 20, so it is 20.',
    );
    expect(set).toContain('Window: you asked for 1 h; the bot’s operator allows no shorter than 24 h, so it is 24 h.');
    expect(set).toContain(
      'Videos in progress per member: you asked for 50; the bot’s operator allows at most 3, so it is 3.',
    );
    expect(await h.bot.quota.limits(h.discord.guild.id)).toMatchObject({
      limit: 20,
      windowHours: 24,
      maxActiveJobs: 3,
    });
    expect(await ephemeralText(h, await quota(h))).toMatch(/^\*\*20 of 20 units left\*\*\n.* 0 of 3 active jobs/);

    const view = await ephemeralText(h, await admin(h, 'limits'));
    expect(view).toContain('Allowance per member: 20 units (set here; the bot’s operator allows at most 20)');
    expect(view).toContain('Videos in progress per member: 3 (set here; the bot’s operator allows at most 3)');

    for (const n of [1, 2, 3]) expect(await answerType(h, await prompt(h, `running job ${n}`))).toBe(5);
    await until(() => h.kie.generateRequests().length === 3, 'three generate calls');
    const fourth = await prompt(h, 'one job too many');
    expect(await ephemeralText(h, fourth)).toBe(
      'You already have 3 videos in progress here. Try again when one of them finishes.',
    );
    expect(h.kie.generateRequests()).toHaveLength(3);
  });

  it('GIVEN a cost below the environment’s THEN /veo-admin limits refuses the change, naming the floor', async () => {
    h = await startHarness();
    const text = await ephemeralText(h, await admin(h, 'limits', [integer('limit', 10), integer('cost_veo3', 1)]));
    expect(text).toBe(
      'The cost of veo3 cannot be 1 units: the bot’s operator set its floor at 4. Nothing was changed.',
    );
    expect(await h.bot.quota.limits(h.discord.guild.id)).toMatchObject({ limit: 5, costs: { veo3: 4 } });
    expect(await ephemeralText(h, await admin(h, 'limits', [integer('cost_veo3', 6)]))).toContain(
      'Cost of veo3: 6 units (set here; the bot’s operator allows no less than 4)',
    );
  });

  it('GIVEN DAILY_CREDIT_BUDGET for two Fast jobs THEN the third is refused before the defer with no generate call, and once one fails at kie a new one is accepted', async () => {
    h = await startHarness({ env: { DAILY_CREDIT_BUDGET: '120', KIE_CREDITS_FAST: '60' } });
    h.kie.autoComplete = null;
    const first = await prompt(h, 'first of two affordable videos');
    const second = await prompt(h, 'second of two affordable videos', { userId: '900000000000000101' });
    expect(await answerType(h, first)).toBe(5);
    expect(await answerType(h, second)).toBe(5);
    await until(() => h.kie.generateRequests().length === 2, 'two generate calls');

    const third = await prompt(h, 'a video the bot cannot afford today', { userId: '900000000000000102' });
    expect(await ephemeralText(h, third)).toMatch(
      /^The bot has spent its video budget for the last 24 hours, which every server shares\. Enough frees up <t:\d+:R>\. Nothing was charged\.$/,
    );
    expect(h.kie.generateRequests()).toHaveLength(2);
    expect(await h.bot.quota.status({ guildId: h.discord.guild.id, userId: '900000000000000102' })).toMatchObject({
      used: 0,
    });

    const failing = await h.job(first.interactionId, (j) => j.taskId !== null);
    h.kie.failTask(failing.taskId!, 500, 'internal error');
    // The record says refunded before the ledgers do; the job is settled once its notice is no longer pending.
    await h.job(first.interactionId, (j) => j.state === 'failed' && j.refunded && j.noticePending !== true);
    const again = await prompt(h, 'a video once the failed one gave its credits back', {
      userId: '900000000000000102',
    });
    expect(await answerType(h, again)).toBe(5);
    await until(() => h.kie.generateRequests().length === 3, 'the third generate call');
  });

  it('GIVEN refusals at once THEN kie paused speaks before the bot’s budget, the budget before the member’s own, and a member’s refusal gives the credit hold back', async () => {
    h = await startHarness({ env: { DAILY_CREDIT_BUDGET: '60', KIE_CREDITS_FAST: '60' } });
    h.kie.autoComplete = null;
    await ephemeralText(h, await admin(h, 'block', [member(h.discord.userId)]));
    expect(await ephemeralText(h, await prompt(h, 'a blocked member’s video'))).toContain('blocked you');
    // The blocked request held the budget for a moment and gave it back: another member can spend it.
    const other = await prompt(h, 'the one video the budget affords', { userId: '950000000000000001' });
    expect(await answerType(h, other)).toBe(5);
    await until(() => h.kie.generateRequests().length === 1, 'one generate call');

    expect(await ephemeralText(h, await prompt(h, 'blocked and over budget'))).toContain(
      'The bot has spent its video budget',
    );
    h.bot.kie.circuit.open('credits');
    expect(await ephemeralText(h, await prompt(h, 'paused, over budget and blocked'))).toContain('out of credits');
    h.bot.kie.circuit.close();
    expect(h.kie.generateRequests()).toHaveLength(1);
  });

  it('GIVEN server A queues 40 jobs and then server B one THEN B showed position 1 or 2 and is among the next two generate calls', async () => {
    const [a, b] = guilds(2);
    h = await startHarness({ discord: { guilds: [a!, b!] }, env: { KIE_GENERATE_RATE: '2/2s' } });
    h.kie.autoComplete = null;
    const burst: InteractionHandle[] = [];
    for (let i = 0; i < 40; i++) {
      burst.push(
        await prompt(h, `server A burst ${i}`, { guildId: a!.id, userId: String(910000000000000000n + BigInt(i)) }),
      );
    }
    for (const handle of burst) expect(await answerType(h, handle)).toBe(5);
    // Every queued job of A has shown its place (each job's first status edit is immediate).
    const queuedEdits = () =>
      burst.filter((handle) =>
        h.discord.requests.some(
          (r) => isOriginalEdit(r, handle.token) && /Queued: position \d+/.test(contentOf(bodyOf(r))),
        ),
      ).length;
    await until(() => queuedEdits() + h.kie.generateRequests().length >= 40, 'A’s burst queued');
    // B arrives right after a pair of A's jobs went out, so the window is full for the next 2 s.
    // (Pairs leave together: 2, 4, 6, … calls, so the pair after `sent` is complete at the next even count.)
    const sent = h.kie.generateRequests().length;
    const before = sent + (sent % 2 === 0 ? 2 : 1);
    await until(() => h.kie.generateRequests().length >= before, 'the next pair of generate calls');

    const quiet = await prompt(h, 'server B’s only video', { guildId: b!.id, userId: '920000000000000001' });
    expect(await answerType(h, quiet)).toBe(5);
    const shown = await h.discord.waitForRequest(
      (r) => isOriginalEdit(r, quiet.token) && /Queued: position \d+/.test(contentOf(bodyOf(r))),
      { afterSeq: quiet.seq, timeoutMs: 5_000 },
    );
    const position = Number(/Queued: position (\d+)/.exec(contentOf(bodyOf(shown)))?.[1]);
    expect([1, 2]).toContain(position);

    await until(() => h.kie.generateRequests().length >= before + 2, 'two more generate calls', 400);
    const nextTwo = h.kie
      .generateRequests()
      .slice(before, before + 2)
      .map((r) => (r.json as { prompt?: string }).prompt);
    expect(nextTwo).toContain('server B’s only video');
  }, 20_000);

  it('GIVEN /veo-admin status THEN operators (OPERATOR_IDS, the application owner) see the balance and the bot’s spend, once read from kie; other admins see only whether videos are accepted', async () => {
    const configured = '930000000000000001';
    h = await startHarness({ env: { OPERATOR_IDS: configured, DAILY_CREDIT_BUDGET: '1000' } });
    h.kie.credits = 4321;
    const job = await prompt(h, 'a video that spends 60 credits');
    await h.job(job.interactionId, (j) => j.state === 'delivered');

    const plain = await ephemeralText(h, await admin(h, 'status', [], { userId: '930000000000000002' }));
    expect(plain).toContain('Video service: accepting new videos.');
    expect(plain).toContain('Videos in progress in this server: 0');
    expect(plain).not.toMatch(/credit|4321/i);
    expect(h.kie.requests.filter((r) => r.path === '/api/v1/chat/credit')).toHaveLength(0);

    for (const operator of [configured, h.discord.applicationOwnerIds[0]!]) {
      const text = await ephemeralText(h, await admin(h, 'status', [], { userId: operator }));
      expect(text).toContain('kie.ai credits: 4321 (read <t:');
      expect(text).toMatch(
        /kie credits the bot spent in the last 24 h, across all servers: 60 of its daily budget of 1000; the oldest frees up <t:\d+:R>\./,
      );
    }
    // Cached: two operators' answers, one read of kie's balance.
    expect(h.kie.requests.filter((r) => r.path === '/api/v1/chat/credit')).toHaveLength(1);
  });

  it('GIVEN a member who did not make a video and lacks Manage Server WHEN they click 1080P THEN they are told privately and kie is never asked; the requester is refused too once the budget cannot afford it', async () => {
    h = await startHarness({ env: { DAILY_CREDIT_BUDGET: '64', KIE_CREDITS_FAST: '60', KIE_CREDITS_1080P: '5' } });
    const handle = await prompt(h, 'a public video a stranger can see');
    const done = await h.job(handle.interactionId, (j) => j.state === 'delivered');
    const click = await h.discord.buttonClick({
      customId: `veo:hd:${done.id}`,
      messageId: done.messageId!,
      userId: '940000000000000001',
    });
    expect(await ephemeralText(h, click)).toBe(
      `Only <@${h.discord.userId}>, who made this video, or a member with Manage Server can ask for its 1080P version: it uses the bot’s credits, and an upgraded video can no longer be extended.`,
    );
    expect(h.kie.requests.filter((r) => r.path === '/api/v1/veo/get-1080p-video')).toEqual([]);
    expect((await h.bot.jobs.get(done.id))?.hd).toBeNull();

    const own = await h.discord.buttonClick({ customId: `veo:hd:${done.id}`, messageId: done.messageId! });
    expect(await ephemeralText(h, own)).toMatch(
      /^The bot has spent its video budget for the last 24 hours, so the 1080P version cannot be made now\. Try again <t:\d+:R>\.$/,
    );
    expect(h.kie.requests.filter((r) => r.path === '/api/v1/veo/get-1080p-video')).toEqual([]);
    expect((await h.bot.jobs.get(done.id))?.hd).toBeNull();
  });

  it('GIVEN USER_DAILY_UNITS=2 WHEN a member of three servers asks in each THEN the third is refused with when it frees up, across servers', async () => {
    const three = guilds(3);
    h = await startHarness({ discord: { guilds: three }, env: { USER_DAILY_UNITS: '2' } });
    for (const g of three.slice(0, 2)) {
      const handle = await prompt(h, `a video in ${g.name}`, { guildId: g.id });
      await h.job(handle.interactionId, (j) => j.state === 'delivered');
    }
    const third = await prompt(h, 'one video too many today', { guildId: three[2]!.id });
    expect(await ephemeralText(h, third)).toMatch(
      /^You have 0 of your 2 units left for the last 24 hours across all servers, and veo3_fast costs 1 here\. Enough units come back <t:\d+:R>\.$/,
    );
    expect(h.kie.generateRequests()).toHaveLength(2);
    const view = await ephemeralText(
      h,
      await h.discord.slashCommand({ name: 'veo', subcommand: 'quota', guildId: three[2]!.id }),
    );
    expect(view).toContain('**5 of 5 units left**');
    expect(view).toMatch(/Across all servers: 0 of 2 units left over the last 24 h · next unit back <t:\d+:R>/);
  });
});
