import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../../src/logger.js';
import { UpgradeService, UHD_MAX_WAIT_MS } from '../../../../src/services/delivery/hd.js';
import { uhdUpgrade } from '../../../../src/services/delivery/upgradeKinds.js';
import { MiB } from '../../../../src/services/delivery/limits.js';
import { SendLadder } from '../../../../src/services/delivery/send.js';
import type { JobRecord } from '../../../../src/services/jobs/record.js';
import { JobStore } from '../../../../src/services/jobs/store.js';
import type { HdResult } from '../../../../src/services/kie/types.js';
import type { QuotaScope } from '../../../../src/services/quota/ledger.js';
import { FakeRest } from '../../../helpers/fakeRest.js';
import { keptInMemory, MemoryFolder } from '../../../helpers/memoryFolder.js';
import { makeJob } from '../../../helpers/jobs.js';

const POLL = 30_000;
const UHD_URL = 'https://files.test/4k.mp4';
const CLICKER = '121212121212121212';
const CLICK = '343434343434343434';

describe('the 4K upgrade (DESIGN §5): its charge, a restart, and kie callbacks', () => {
  let now: number;
  let jobs: JobStore;
  let rest: FakeRest;
  let answers: Array<HdResult | Error>;
  let kieCalls: { taskId: string; callBackUrl: string | undefined }[];
  let charges: string[];
  let services: UpgradeService[];

  beforeEach(() => {
    vi.useFakeTimers();
    now = 1_700_000_000_000 + 60 * 60_000;
    jobs = new JobStore(new Keyv(), { now: () => now });
    rest = new FakeRest();
    answers = [];
    kieCalls = [];
    charges = [];
    services = [];
  });

  afterEach(async () => {
    for (const service of services) await service.stop();
    vi.useRealTimers();
  });

  /** A fresh process's 4K service over the same store (a restart builds a new one). */
  function service(): UpgradeService {
    const clock = { now: () => now };
    const record = (step: string) => (scope: QuotaScope, id: string) => {
      charges.push(`${step} ${scope.guildId ?? 'dm'}/${scope.userId} ${id}`);
      return Promise.resolve(true);
    };
    const quota = {
      commit: async (scope: QuotaScope, id: string) => {
        await record('commit')(scope, id);
      },
      refund: record('refund'),
      release: async (scope: QuotaScope, id: string) => {
        await record('release')(scope, id);
      },
    };
    const kie = {
      get4k: async (taskId: string, _index: number, callBackUrl?: string): Promise<HdResult> => {
        kieCalls.push({ taskId, callBackUrl });
        const answer = answers.shift() ?? { state: 'ready', url: UHD_URL };
        if (answer instanceof Error) throw answer;
        return answer;
      },
    };
    const folder = new MemoryFolder();
    const made = new UpgradeService({
      kind: uhdUpgrade(kie, POLL, quota, (jobId) => `https://veo.example/kie/callback?job=${jobId}`),
      jobs,
      send: new SendLadder({ rest, clock, logger: silentLogger, guildUploadLimit: () => 50 * MiB }),
      downloads: keptInMemory(folder, clock, async () => ({
        kind: 'ok',
        data: Buffer.alloc(MiB),
        contentType: 'video/mp4',
      })),
      clock,
      logger: silentLogger,
    });
    services.push(made);
    return made;
  }

  async function clicked(uhd: UpgradeService): Promise<JobRecord> {
    const job = makeJob({ state: 'delivered', taskId: 'task1', submittedAt: now - 60_000 });
    await jobs.create(job);
    const claim = await uhd.claim(job.id, {
      interactionId: CLICK,
      token: 'click-token',
      channelId: job.channelId,
      userId: CLICKER,
      attachmentSizeLimit: 25 * MiB,
    });
    expect(claim.kind).toBe('claimed');
    return job;
  }

  async function stateOf(jobId: string): Promise<string | undefined> {
    return (await jobs.get(jobId))?.uhd?.state;
  }

  const spend = (job: JobRecord) => `${job.guildId ?? 'dm'}/${CLICKER} 4k:${job.id}:${CLICK}`;

  it('GIVEN processing then ready THEN the units are committed once kie takes it and released once delivered; the callback URL names the job', async () => {
    answers.push({ state: 'processing' });
    const uhd = service();
    const job = await clicked(uhd);
    await uhd.start(job.id, '555555555555555555');
    await vi.advanceTimersByTimeAsync(0);
    expect(await stateOf(job.id)).toBe('preparing');
    await vi.advanceTimersByTimeAsync(POLL);
    expect(await stateOf(job.id)).toBe('ready');
    expect(kieCalls).toEqual([
      { taskId: 'task1', callBackUrl: `https://veo.example/kie/callback?job=${job.id}` },
      { taskId: 'task1', callBackUrl: `https://veo.example/kie/callback?job=${job.id}` },
    ]);
    expect(charges).toEqual([`commit ${spend(job)}`, `commit ${spend(job)}`, `release ${spend(job)}`]);
    expect(rest.of('editOriginal')[0]?.options.files?.map((f) => f.name)).toEqual([`veo-${job.id}-4k.mp4`]);
  });

  it('GIVEN kie says "unavailable" THEN the units are refunded, never committed, and the reply says so', async () => {
    answers.push({ state: 'failed' });
    const uhd = service();
    const job = await clicked(uhd);
    await uhd.start(job.id, null);
    await vi.advanceTimersByTimeAsync(0);
    expect(await stateOf(job.id)).toBe('failed');
    expect(charges).toEqual([`refund ${spend(job)}`]);
    expect(rest.of('editOriginal')[0]?.view.content).toContain('could not be made, so its units were returned');
  });

  it('GIVEN kie keeps saying processing past 20 minutes THEN the preparation gives up and refunds', async () => {
    for (let i = 0; i < 100; i++) answers.push({ state: 'processing' });
    const uhd = service();
    const job = await clicked(uhd);
    await uhd.start(job.id, null);
    for (let t = 0; t <= UHD_MAX_WAIT_MS; t += POLL) {
      now += POLL;
      await vi.advanceTimersByTimeAsync(POLL);
    }
    expect(await stateOf(job.id)).toBe('failed');
    expect(charges.at(-1)).toBe(`refund ${spend(job)}`);
    expect(kieCalls.length).toBeGreaterThanOrEqual(UHD_MAX_WAIT_MS / POLL);
  });

  it('GIVEN a restart while preparing THEN the next process resumes it from the record and delivers once', async () => {
    answers.push({ state: 'processing' });
    const before = service();
    const job = await clicked(before);
    await before.start(job.id, '555555555555555555');
    await vi.advanceTimersByTimeAsync(0);
    await before.stop();
    expect(await stateOf(job.id)).toBe('preparing');
    expect(await jobs.upgradesPreparing('4k')).toHaveLength(1);
    expect(await jobs.upgradesPreparing('1080p')).toEqual([]);

    const after = service();
    expect(await after.resume()).toBe(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(await stateOf(job.id)).toBe('ready');
    expect(await jobs.upgradesPreparing('4k')).toEqual([]);
    expect(rest.of('editOriginal')).toHaveLength(1);
    expect(charges.filter((c) => c.startsWith('release'))).toEqual([`release ${spend(job)}`]);
  });

  it('GIVEN a callback nudge while a check is running THEN the check it then schedules does not push the nudge back', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const uhd = service();
    const job = await clicked(uhd);
    answers.push({ state: 'processing' });
    await uhd.start(job.id, null);
    const realGet = jobs.get.bind(jobs);
    let first = true;
    jobs.get = async (id) => {
      const record = await realGet(id);
      if (first) {
        first = false;
        await gate;
      }
      return record;
    };
    await vi.advanceTimersByTimeAsync(0);
    // The first check is reading the record; kie's callback arrives meanwhile.
    uhd.nudge(job.id);
    // The check goes on (it hears "processing" and schedules its next poll) before the nudge's timer fires.
    release();
    for (let i = 0; i < 200; i++) await Promise.resolve();
    expect(kieCalls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(0);
    // Asked again at once, not 30 s later.
    expect(kieCalls).toHaveLength(2);
    expect(await stateOf(job.id)).toBe('ready');
  });

  it('GIVEN a video older than 14 days THEN the click is refused before anything is claimed', async () => {
    const uhd = service();
    const job = makeJob({ state: 'delivered', taskId: 'task1', submittedAt: now - 15 * 24 * 60 * 60_000 });
    await jobs.create(job);
    const claim = await uhd.claim(job.id, {
      interactionId: CLICK,
      token: 'click-token',
      channelId: job.channelId,
      userId: CLICKER,
      attachmentSizeLimit: null,
    });
    expect(claim.kind).toBe('too_old');
    expect(await stateOf(job.id)).toBeUndefined();
  });
});
