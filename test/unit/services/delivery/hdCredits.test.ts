import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../../src/logger.js';
import { UpgradeService } from '../../../../src/services/delivery/hd.js';
import { hdUpgrade } from '../../../../src/services/delivery/upgradeKinds.js';
import { keptInMemory, MemoryFolder } from '../../../helpers/memoryFolder.js';
import { MiB } from '../../../../src/services/delivery/limits.js';
import { SendLadder } from '../../../../src/services/delivery/send.js';
import { JobStore } from '../../../../src/services/jobs/store.js';
import type { HdResult } from '../../../../src/services/kie/types.js';
import { CreditBudget, hdSpendId } from '../../../../src/services/quota/credits.js';
import { KeyvSharedLedger } from '../../../../src/services/quota/shared.js';
import { makeJob } from '../../../helpers/jobs.js';
import { FakeRest } from '../../../helpers/fakeRest.js';

const CLICK = '343434343434343434';
const prices = { models: { veo3: 250, veo3_fast: 60, veo3_lite: 30 }, hd1080p: 5, uhd4k: 120 };

describe('1080P and the bot’s credit budget', () => {
  let now: number;
  let jobs: JobStore;
  let credits: CreditBudget;
  let hd: UpgradeService;
  let kieAnswers: Array<HdResult | Error>;

  beforeEach(() => {
    vi.useFakeTimers();
    now = 1_700_000_000_000;
    const clock = { now: () => now };
    jobs = new JobStore(new Keyv(), clock);
    credits = new CreditBudget({
      ledger: new KeyvSharedLedger('credits', new Keyv(), silentLogger),
      budget: 100,
      prices,
      clock,
    });
    kieAnswers = [];
    const folder = new MemoryFolder();
    const kie = {
      get1080p: async (): Promise<HdResult> => {
        const answer = kieAnswers.shift() ?? { state: 'ready', url: 'https://files.test/hd.mp4' };
        if (answer instanceof Error) throw answer;
        return answer;
      },
    };
    hd = new UpgradeService({
      kind: hdUpgrade(kie, 1_000, credits),
      jobs,
      send: new SendLadder({ rest: new FakeRest(), clock, logger: silentLogger, guildUploadLimit: () => 50 * MiB }),
      downloads: keptInMemory(folder, clock, async () => ({
        kind: 'ok',
        data: Buffer.alloc(MiB),
        contentType: 'video/mp4',
      })),
      clock,
      logger: silentLogger,
    });
  });

  afterEach(async () => {
    await hd.stop();
    vi.useRealTimers();
  });

  /** A click as onHdClick makes it: claimed, its price reserved, deferred, started. */
  async function click(): Promise<string> {
    const job = makeJob({ state: 'delivered', taskId: 'task1', resultUrls: ['https://files.test/v.mp4'] });
    await jobs.create(job);
    const claim = await hd.claim(job.id, {
      interactionId: CLICK,
      token: 'click-token',
      channelId: job.channelId,
      userId: job.requesterId,
      attachmentSizeLimit: 25 * MiB,
    });
    expect(claim.kind).toBe('claimed');
    expect(await credits.reserve(hdSpendId(job.id, CLICK), { kind: '1080p' }, job.guildId)).toEqual({ ok: true });
    await hd.start(job.id, '555555555555555555');
    return job.id;
  }

  async function finished(jobId: string): Promise<void> {
    for (let i = 0; i < 20 && (await jobs.get(jobId))?.hd?.state === 'preparing'; i++)
      await vi.advanceTimersByTimeAsync(1_000);
  }

  it('GIVEN kie answers "processing" THEN the spend stands from that first answer, however it ends', async () => {
    kieAnswers.push({ state: 'processing' });
    const jobId = await click();
    expect(await credits.usage()).toMatchObject({ used: 5, held: 5 });
    await finished(jobId);
    expect((await jobs.get(jobId))?.hd?.state).toBe('ready');
    expect(await credits.usage()).toMatchObject({ used: 5, held: 0 });
    expect(await credits.refund(hdSpendId(jobId, CLICK))).toBe(false);
  });

  it('GIVEN kie refuses the upgrade THEN its price comes back', async () => {
    kieAnswers.push(new Error('kie 422'));
    const jobId = await click();
    await finished(jobId);
    expect((await jobs.get(jobId))?.hd?.state).toBe('failed');
    expect(await credits.usage()).toMatchObject({ used: 0, held: 0 });
  });
});
