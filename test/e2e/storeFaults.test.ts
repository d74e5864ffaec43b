import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.js';
import { isSettled, type JobRecord } from '../../src/services/jobs/record.js';
import { JobStore } from '../../src/services/jobs/store.js';
import { QuotaService } from '../../src/services/quota/service.js';
import { openStores, type Stores } from '../../src/services/runtime/store.js';
import { FaultyStores, storeError, STORE_FAULT_KINDS, type StoreOp } from '../helpers/faultyStores.js';
import { bodyOf, isCallback, isOriginalEdit, startHarness, type Harness } from './helpers/harness.js';

const STRING = 3;
const EPHEMERAL = 64;

/** Which step of the job a store call belongs to, from what the calls before it wrote. */
function labelSteps(ops: readonly StoreOp[], jobId: string): string[] {
  let phase = 'reserve';
  let recordWrites = 0;
  return ops.map((op) => {
    const what =
      op.key === jobId
        ? 'record'
        : op.key.startsWith('task:')
          ? 'task key'
          : op.key.startsWith('index:active')
            ? 'active index'
            : op.key.startsWith('index:member')
              ? 'member index'
              : op.key.startsWith('usage:')
                ? 'member ledger'
                : op.key.startsWith('budget:')
                  ? 'server ledger'
                  : op.namespace;
    const label = `${phase}: ${op.method} ${what}${op.state ? ` (${op.state})` : ''}`;
    if (op.key === jobId && op.state) {
      recordWrites += 1;
      // The first write creates the record (its indexes follow), the second adds the message id.
      phase = recordWrites === 1 ? 'create' : op.state;
    }
    return label;
  });
}

/**
 * DESIGN §4 "No step is ever stranded", through the real bot on SQLite: the stores openStores returned
 * are wrapped (BotOverrides.wrapStores), and one job is run once for every store call it makes, that
 * call failing with SQLITE_BUSY, SQLITE_FULL or a Redis error reply. Each run ends with the member
 * answered and the job delivered once, or failed and refunded once, or (before the acknowledgement)
 * refused with "try again" and nothing charged.
 */
describe.each([
  { outcome: 'delivered', kie: 'success' as const, units: 4, sweep: () => true },
  // The calls up to generating are the same as the delivered job's: only the ending is swept again.
  {
    outcome: 'failed',
    kie: { errorCode: 500, errorMessage: 'internal error' },
    units: 5,
    sweep: (step: string) => /^(generating|failed)/.test(step),
  },
])('a store error at every store call of one job that kie ends $outcome (real bot, SQLite)', (scenario) => {
  const faults = new FaultyStores();
  let h: Harness;
  /** The test's own reads go through a connection of their own, never counted or failed. */
  let reader: { stores: Stores; jobs: JobStore; quota: QuotaService };
  const table: string[] = [];

  beforeAll(async () => {
    h = await startHarness({ bot: { wrapStores: faults.wrap, stepRetryBaseMs: 20 } });
    h.kie.autoComplete = { afterReads: 1, outcome: scenario.kie };
    const stores = openStores(h.config.store);
    await stores.ready;
    reader = {
      stores,
      jobs: new JobStore(stores.jobs, systemClock),
      quota: new QuotaService({ store: stores.quota, clock: systemClock, defaults: h.config.quota }),
    };
  });

  afterAll(async () => {
    const violations = [...h.discord.violations];
    await reader.stores.close();
    await h.close();
    expect(violations).toEqual([]);
    const file = process.env.FAULT_TABLE;
    if (file) writeFileSync(`${file}.${scenario.outcome}.md`, table.join('\n') + '\n');
  });

  async function idle(): Promise<void> {
    for (let i = 0; i < 400 && h.bot.runner.busy; i++) await new Promise((r) => setTimeout(r, 10));
  }

  async function runJob(userId: string) {
    const from = faults.count;
    const handle = await h.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: STRING, value: `a paper lantern for ${userId}` }],
      userId,
    });
    const ack = await h.discord.waitForRequest((r) => isCallback(r, handle.interactionId), {
      afterSeq: handle.seq,
    });
    const refused = (bodyOf(ack).data as { flags?: number } | undefined)?.flags === EPHEMERAL;
    let job: JobRecord | undefined;
    if (!refused) {
      for (let i = 0; i < 500; i++) {
        const accepted = h.logs.find(
          (l) => l.message === 'job accepted' && l.fields.interactionId === handle.interactionId,
        );
        job = accepted ? await reader.jobs.get(String(accepted.fields.jobId)) : undefined;
        if (job && isSettled(job, Date.now())) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await idle();
    const abandoned = h.logs.find(
      (l) =>
        l.message.startsWith('store did not answer before the acknowledgement') &&
        l.fields.interactionId === handle.interactionId,
    );
    const jobId = job?.id ?? (abandoned ? String(abandoned.fields.jobId) : null);
    if (jobId !== null) job = await reader.jobs.get(jobId);
    const scope = { guildId: h.discord.guild.id, userId };
    const videos = [...h.discord.messages.values()].filter(
      (m) => !m.deleted && jobId !== null && m.attachments.some((a) => a.filename === `veo-${jobId}.mp4`),
    );
    const shown = h.discord.originalMessage(handle.token)?.content ?? '';
    return {
      handle,
      refused,
      reply: (bodyOf(ack).data as { content?: string } | undefined)?.content ?? '',
      job,
      jobId,
      videos: videos.length,
      shown,
      remaining: (await reader.quota.status(scope)).remaining,
      ops: faults.ops.filter((op) => op.n > from),
    };
  }

  it('GIVEN the Nth store call fails, for every N of the job THEN the member is answered in time, and the job ends as kie says (delivered once, or failed and refunded once), or is refused with nothing charged', async () => {
    // The first job of a server also reads its settings; the second shows every later job's calls.
    await runJob('690000000000000000');
    const clean = await runJob('690000000000000001');
    expect(clean.job?.state).toBe(scenario.outcome);
    expect(clean.videos).toBe(scenario.outcome === 'delivered' ? 1 : 0);
    expect(clean.remaining).toBe(scenario.units);
    const steps = labelSteps(clean.ops, clean.jobId ?? '');
    expect(steps.length).toBeGreaterThan(20);
    table.push(
      '| call | step it hit | store error | what the member saw | final state | units left (of 5) |',
      '|---|---|---|---|---|---|',
    );
    const outcomes = new Set<string>();
    for (let n = 1; n <= steps.length; n++) {
      if (!scenario.sweep(steps[n - 1] ?? '')) continue;
      const kind = STORE_FAULT_KINDS[n % STORE_FAULT_KINDS.length]!;
      faults.failIn(n, storeError(kind));
      const run = await runJob(`7000000000000${String(n).padStart(5, '0')}`);
      const hit = run.ops.find((op) => op.failed);
      faults.disarm();
      const where = `call ${n} (${steps[n - 1] ?? '?'}, ${kind}): ${labelSteps(run.ops, run.jobId ?? '')
        .map((l, i) => `${run.ops[i]?.failed ? '!' : ''}${l}`)
        .join(' | ')}`;
      expect(hit, where).toBeDefined();
      let saw: string;
      if (run.refused) {
        expect(run.reply, where).toMatch(/could not reach its storage/);
        expect(run.remaining, where).toBe(5);
        if (run.job) expect(run.job, where).toMatchObject({ state: 'failed', refunded: true });
        saw = '"could not reach its storage … try again", ephemeral';
        outcomes.add('refused');
      } else if (scenario.outcome === 'delivered') {
        expect(run.job?.state, where).toBe('delivered');
        expect(run.videos, where).toBe(1);
        expect(run.remaining, where).toBe(4);
        expect(run.job?.interaction.token, where).toBeNull();
        saw = 'the video, once';
        outcomes.add('delivered');
      } else {
        expect(run.job, where).toMatchObject({ state: 'failed', refunded: true, noticePending: false });
        expect(run.job?.interaction.token, where).toBeNull();
        expect(run.shown, where).toMatch(/returned to you/);
        expect(run.videos, where).toBe(0);
        expect(run.remaining, where).toBe(5);
        saw = 'the failure, refunded';
        outcomes.add('failed');
      }
      expect(await reader.jobs.active(), where).toEqual([]);
      const final = run.refused
        ? run.job
          ? `${run.job.state} (never acknowledged)`
          : 'no job'
        : (run.job?.state ?? '?');
      table.push(`| ${n} | ${steps[n - 1] ?? '?'} | ${kind} | ${saw} | ${final} | ${run.remaining} |`);
    }
    // Calls before the acknowledgement are refused; after it, a store error never changes how the job ends.
    expect([...outcomes].filter((o) => o !== 'refused')).toEqual([scenario.outcome]);
    if (scenario.outcome === 'delivered') expect(outcomes.has('refused')).toBe(true);
    // No edit of any job message ever said it was failed by a store error.
    expect(
      h.discord.requests.filter((r) => r.method === 'PATCH' && /went wrong/.test(String(bodyOf(r).content))),
    ).toEqual([]);
    expect(h.discord.requests.some((r) => isOriginalEdit(r, clean.handle.token))).toBe(true);
  });
});
