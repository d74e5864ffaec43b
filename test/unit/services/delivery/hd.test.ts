import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DownloadError, type DownloadResult } from '../../../../src/lib/download.js';
import { silentLogger } from '../../../../src/logger.js';
import { UpgradeService, type HdClick } from '../../../../src/services/delivery/hd.js';
import { hdUpgrade } from '../../../../src/services/delivery/upgradeKinds.js';
import { keptInMemory, MemoryFolder } from '../../../helpers/memoryFolder.js';
import { DEFAULT_UPLOAD_LIMIT, MiB, TOKEN_LIFETIME_MS } from '../../../../src/services/delivery/limits.js';
import { SendLadder } from '../../../../src/services/delivery/send.js';
import type { JobRecord } from '../../../../src/services/jobs/record.js';
import { JobStore } from '../../../../src/services/jobs/store.js';
import type { HdResult } from '../../../../src/services/kie/types.js';
import { makeJob } from '../../../helpers/jobs.js';
import { Codes, discordError, FakeRest, httpError } from '../../../helpers/fakeRest.js';

const POLL = 20_000;
const HD_URL = 'https://files.test/hd.mp4';
const REPLY = '555555555555555555';
const CLICKER = '121212121212121212';

describe('HdService over the send ladder (DESIGN §5)', () => {
  let now: number;
  let rest: FakeRest;
  let jobs: JobStore;
  let hd: UpgradeService;
  let kieAnswers: Array<HdResult | Error>;
  let fetches: number[];
  let download: () => Promise<DownloadResult>;
  let kieCalls: number;
  let folder: MemoryFolder;

  beforeEach(() => {
    vi.useFakeTimers();
    now = 1_700_000_000_000 + 60 * 60_000;
    const clock = { now: () => now };
    rest = new FakeRest();
    jobs = new JobStore(new Keyv(), clock);
    kieAnswers = [];
    fetches = [];
    download = async () => ({ kind: 'ok', data: Buffer.alloc(3 * MiB), contentType: 'video/mp4' });
    kieCalls = 0;
    folder = new MemoryFolder();
    const kie = {
      get1080p: async (): Promise<HdResult> => {
        kieCalls += 1;
        const answer = kieAnswers.shift() ?? { state: 'ready', url: HD_URL };
        if (answer instanceof Error) throw answer;
        return answer;
      },
    };
    hd = new UpgradeService({
      kind: hdUpgrade(kie, POLL),
      jobs,
      send: new SendLadder({ rest, clock, logger: silentLogger, guildUploadLimit: () => 50 * MiB }),
      downloads: keptInMemory(folder, clock, async (_, cap) => {
        fetches.push(cap);
        return download();
      }),
      clock,
      logger: silentLogger,
    });
  });

  afterEach(async () => {
    await hd.stop();
    vi.useRealTimers();
  });

  /** A delivered job whose 1080P button was just clicked and deferred. */
  async function clicked(overrides: Partial<JobRecord> = {}, click: Partial<HdClick> = {}): Promise<JobRecord> {
    const job = makeJob({
      state: 'delivered',
      taskId: 'task1',
      resultUrls: ['https://files.test/v.mp4'],
      ...overrides,
    });
    await jobs.create(job);
    const claim = await hd.claim(job.id, {
      interactionId: '343434343434343434',
      token: 'click-token',
      channelId: job.channelId,
      userId: CLICKER,
      attachmentSizeLimit: 25 * MiB,
      ...click,
    });
    expect(claim.kind).toBe('claimed');
    await hd.start(job.id, job.private ? null : REPLY);
    return job;
  }

  /** Moves the fake clock in steps until `condition` holds (the service's timers fire as they fall due). */
  async function until(condition: () => boolean | Promise<boolean>, stepMs: number): Promise<void> {
    for (let step = 0; step < 20; step++) {
      if (await condition()) return;
      await vi.advanceTimersByTimeAsync(stepMs);
    }
    throw new Error('the condition never held');
  }

  async function settled(jobId: string): Promise<JobRecord> {
    await until(async () => (await jobs.get(jobId))?.hd?.state !== 'preparing', POLL);
    return (await jobs.get(jobId))!;
  }

  it('GIVEN a click on a job whose record still says delivering (the result is visible, its write not yet done) THEN it is claimed, never "not ready"', async () => {
    const job = await clicked({ state: 'delivering' });
    const done = await settled(job.id);
    expect(done.hd?.state).toBe('ready');
    expect(kieCalls).toBe(1);
  });

  it('GIVEN a click claimed during start-up, its check under way, WHEN resume finds it preparing THEN no second check starts: one kie call, one reply', async () => {
    let answer!: () => void;
    const gate = new Promise<void>((resolve) => (answer = resolve));
    kieAnswers.push({ state: 'processing' });
    const job = await clicked();
    const realGet = jobs.get.bind(jobs);
    await vi.advanceTimersByTimeAsync(0);
    expect(kieCalls).toBe(1);
    // The first check is now waiting for its reply write; resume runs meanwhile.
    jobs.get = async (id) => {
      await gate;
      return realGet(id);
    };
    await vi.advanceTimersByTimeAsync(POLL);
    expect(kieCalls).toBe(1);
    expect(await hd.resume()).toBe(0);
    jobs.get = realGet;
    answer();
    await settled(job.id);
    expect(kieCalls).toBe(2);
    expect(rest.of('editOriginal')).toHaveLength(1);
  });

  it('GIVEN the store fails while a preparation is checked THEN the check runs again later instead of stranding it', async () => {
    const job = await clicked();
    const realGet = jobs.get.bind(jobs);
    let failures = 2;
    jobs.get = async (id) => {
      if (failures-- > 0) throw Object.assign(new Error('SQLITE_BUSY: database is locked'), { code: 'SQLITE_BUSY' });
      return realGet(id);
    };
    await vi.advanceTimersByTimeAsync(10_000);
    jobs.get = realGet;
    expect(failures).toBeLessThan(0);
    const done = await settled(job.id);
    expect(done.hd?.state).toBe('ready');
    expect(kieCalls).toBe(1);
  });

  it('GIVEN kie says processing, then ready THEN the click reply gets the 1080P file through its token, once', async () => {
    kieAnswers.push({ state: 'processing' });
    const job = await clicked();
    const done = await settled(job.id);

    expect(done.hd).toMatchObject({ state: 'ready', url: HD_URL, token: null });
    const edits = rest.of('editOriginal');
    expect(edits).toHaveLength(1);
    expect(edits[0]?.token).toBe('click-token');
    expect(edits[0]?.options.files?.map((f) => f.name)).toEqual([`veo-${job.id}-1080p.mp4`]);
    expect(fetches).toEqual([25 * MiB]);
  });

  it('GIVEN the click token is refused THEN its death is persisted, the retry never uses it, and the file is kept', async () => {
    rest.failNext('editOriginal', discordError(401, Codes.InvalidWebhookToken));
    rest.failNext('editChannelMessage', httpError());
    const job = await clicked();
    await until(() => rest.of('editChannelMessage').length === 1, 1);

    expect((await jobs.get(job.id))?.hd).toMatchObject({ state: 'preparing', token: null });
    const done = await settled(job.id);
    expect(done.hd?.state).toBe('ready');
    expect(rest.of('editOriginal')).toHaveLength(1);
    expect(rest.of('editChannelMessage').map((e) => e.messageId)).toEqual([REPLY, REPLY]);
    expect(fetches).toEqual([25 * MiB]);
  });

  it('GIVEN a public job whose reply cannot be edited and whose channel refuses the post THEN it is never DMd', async () => {
    const noAccess = discordError(403, Codes.MissingPermissions);
    rest.failNext('editOriginal', discordError(401, Codes.InvalidWebhookToken));
    rest.failNext('editChannelMessage', noAccess);
    rest.failNext('postChannelMessage', noAccess);
    const job = await clicked();
    const done = await settled(job.id);

    expect(rest.of('postChannelMessage')[0]?.view.content).toMatch(new RegExp(`^<@${CLICKER}> `));
    expect(rest.of('openDm')).toEqual([]);
    expect(done.hd).toMatchObject({ state: 'ready', url: HD_URL });
  });

  it('GIVEN a private job past the click token THEN the ephemeral reply is left alone and the file goes by DM', async () => {
    const job = await clicked({ private: true });
    now += TOKEN_LIFETIME_MS;
    await settled(job.id);

    expect(rest.of('editOriginal')).toEqual([]);
    expect(rest.calls.map((c) => c.method)).toEqual(['openDm', 'postChannelMessage']);
    expect(rest.of('postChannelMessage')[0]?.options.files).toHaveLength(1);
    expect(fetches).toEqual([DEFAULT_UPLOAD_LIMIT]);
  });

  it('GIVEN the download fails in a way that may pass THEN it is retried, not shown as "too large"', async () => {
    download = () => Promise.reject(new DownloadError('download interrupted: SocketError', null));
    const job = await clicked();
    await until(() => fetches.length === 1, 1);
    expect(rest.calls).toEqual([]);

    download = async () => ({ kind: 'ok', data: Buffer.alloc(MiB), contentType: 'video/mp4' });
    const done = await settled(job.id);
    expect(done.hd?.state).toBe('ready');
    expect(rest.of('editOriginal').map((e) => e.options.files?.length)).toEqual([1]);
  });

  it('GIVEN the 1080P file is gone (404) THEN the reply links it instead', async () => {
    download = () => Promise.reject(new DownloadError('download answered HTTP 404', 404));
    const job = await clicked();
    await settled(job.id);

    const [edit] = rest.of('editOriginal');
    expect(edit?.options.files).toEqual([]);
    expect(edit?.view.content).toContain(HD_URL);
    expect(edit?.view.content).toContain('25 MiB');
  });

  it('GIVEN kie refuses the upgrade THEN the reply says it failed and the state is failed', async () => {
    kieAnswers.push(new Error('kie 500'));
    const job = await clicked();
    const done = await settled(job.id);

    expect(done.hd).toMatchObject({ state: 'failed', url: null });
    expect(rest.of('editOriginal')[0]?.view.content).toContain('could not be prepared');
    expect(fetches).toEqual([]);
  });
});
