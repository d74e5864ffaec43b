/**
 * Figures for a public bot (issue 12): how long a quiet server's job waits behind a busy server's burst,
 * and what `reserve` (which runs before the defer) costs on a server with 50,000 jobs in its day, on this
 * code and on the code before the hourly ledger (read from git).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type Keyv from 'keyv';
import type { InteractionHandle } from '../test/e2e/helpers/loopbackDiscord.js';
import { startLoopbacks } from '../test/e2e/helpers/loopbacks.js';
import { BotProcess } from './botProcess.js';

const STRING = 3;
const root = path.resolve(import.meta.dirname, '..');
/** The last commit before the hourly ledgers and the fair queue (this base). */
export const BEFORE_COMMIT = 'db5b867';

/** Server A's burst of 40 (one job per member), then server B's one job, at the default 20/10s. */
export async function measureFairQueue(): Promise<Record<string, number>> {
  const guild = (n: number) => ({
    id: `15000000000000000${n}`,
    name: `Server ${n}`,
    channelId: `15100000000000000${n}`,
    premiumTier: 0,
  });
  const [a, b] = [guild(1), guild(2)];
  const loopbacks = await startLoopbacks({ dirPrefix: 'veo-bench-fair-', discord: { guilds: [a, b] } });
  const { discord, kie } = loopbacks;
  kie.autoComplete = null;
  const bot = await BotProcess.start({ ...loopbacks.env });
  try {
    const burst: InteractionHandle[] = [];
    for (let i = 0; i < 40; i++) {
      burst.push(
        await discord.slashCommand({
          name: 'veo',
          subcommand: 'prompt',
          options: [{ name: 'prompt', type: STRING, value: `server A ${i}` }],
          guildId: a.id,
          userId: String(960_000_000_000_000_000n + BigInt(i)),
        }),
      );
    }
    while (kie.generateRequests().length < 20) await new Promise((r) => setTimeout(r, 20));
    // Let every job of the burst reach the limiter before B asks.
    await new Promise((r) => setTimeout(r, 1_000));
    const before = kie.generateRequests().length;
    const quiet = await discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: STRING, value: 'server B only' }],
      guildId: b.id,
      userId: '970000000000000001',
    });
    const generate = await kie.waitFor(
      (r) => (r.json as { prompt?: string } | null)?.prompt === 'server B only',
      60_000,
    );
    const calls = kie.generateRequests();
    const index = calls.findIndex((r) => r.seq === generate.seq);
    const shown = discord.requests.find(
      (r) => r.path.includes(`/${quiet.token}/`) && /position (\d+)/.test(JSON.stringify(r.body ?? '')),
    );
    return {
      serverAJobs: burst.length,
      serverAWaitingWhenBAsked: 40 - before,
      positionShownToB: Number(/position (\d+)/.exec(JSON.stringify(shown?.body ?? ''))?.[1] ?? NaN),
      bWaitInGenerateTurns: index - before,
    };
  } finally {
    await bot.stop();
    await loopbacks.close();
  }
}

type Scope = { guildId: string; userId: string };
interface QuotaLike {
  reserve(scope: Scope, jobId: string, model: 'veo3_fast'): Promise<{ ok: boolean }>;
  commit(scope: Scope, jobId: string): Promise<void>;
  release(scope: Scope, jobId: string): Promise<void>;
}
interface QuotaModules {
  QuotaService: new (opts: {
    store: Keyv;
    clock: { now(): number };
    defaults: unknown;
    settings: () => Promise<Record<string, unknown>>;
  }) => QuotaLike;
  openStores: (location: { kind: 'sqlite'; file: string }) => {
    quota: Keyv;
    ready: Promise<void>;
    close(): Promise<void>;
  };
}

async function quotaModules(tree: string): Promise<QuotaModules> {
  const service = (await import(pathToFileURL(path.join(tree, 'src/services/quota/service.ts')).href)) as Pick<
    QuotaModules,
    'QuotaService'
  >;
  const store = (await import(pathToFileURL(path.join(tree, 'src/services/runtime/store.ts')).href)) as Pick<
    QuotaModules,
    'openStores'
  >;
  return { QuotaService: service.QuotaService, openStores: store.openStores };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

const round = (n: number) => Math.round(n * 100) / 100;

/**
 * `reserve` on one server whose last 24 h hold 50,000 settled jobs, on SQLite. The day is written as the
 * code before this issue left it (one entry per job); the code after folds it into hours on its first
 * write, reported apart as the upgrade's one-time cost.
 */
async function measureReserveIn(tree: string, samples: number): Promise<Record<string, number>> {
  const { QuotaService, openStores } = await quotaModules(tree);
  const dir = mkdtempSync(path.join(tmpdir(), 'veo-bench-ledger-'));
  const stores = openStores({ kind: 'sqlite', file: path.join(dir, 'bot.sqlite') });
  try {
    await stores.ready;
    const now = Date.now();
    const day = 24 * 3_600_000;
    const entries = Array.from({ length: 50_000 }, (_, i) => ({
      jobId: `day${i}`,
      units: 1,
      at: now - day + 60_000 + Math.floor((i * (day - 120_000)) / 50_000),
      state: 'spent',
      open: false,
    }));
    await stores.quota.set('budget:g1', { resetAt: 0, entries });
    const quota = new QuotaService({
      store: stores.quota,
      clock: { now: () => Date.now() },
      defaults: { limit: 5, windowHours: 24, costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 }, maxActiveJobs: 2 },
      settings: () => Promise.resolve({ budget: 1_000_000 }),
    });
    // Each sampled job then runs its course (kie accepts it, it is delivered), untimed, as jobs do.
    const time = async (i: number) => {
      const scope = { guildId: 'g1', userId: `member${i}` };
      const started = performance.now();
      const result = await quota.reserve(scope, `bench${i}`, 'veo3_fast');
      const took = performance.now() - started;
      if (!result.ok) throw new Error('the benchmark reservation was refused');
      await quota.commit(scope, `bench${i}`);
      await quota.release(scope, `bench${i}`);
      return took;
    };
    const first = await time(-1);
    const times: number[] = [];
    for (let i = 0; i < samples; i++) times.push(await time(i));
    times.sort((x, y) => x - y);
    return {
      firstMs: round(first),
      p50Ms: round(percentile(times, 50)),
      p99Ms: round(percentile(times, 99)),
      maxMs: round(times.at(-1) ?? NaN),
      storedBytes: JSON.stringify(await stores.quota.get('budget:g1')).length,
    };
  } finally {
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The code of BEFORE_COMMIT in a scratch tree (git archive), or null without git history. */
function beforeTree(): string | null {
  const dir = mkdtempSync(path.join(tmpdir(), 'veo-bench-before-'));
  try {
    const archive = execFileSync('git', ['archive', BEFORE_COMMIT, 'src'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    return existsSync(path.join(dir, 'src/services/quota/service.ts')) ? dir : null;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
}

export async function measureReserve(): Promise<Record<string, Record<string, number> | string>> {
  const after = await measureReserveIn(root, 2_000);
  const tree = beforeTree();
  if (tree === null) return { after, before: `not measured: git archive ${BEFORE_COMMIT} failed` };
  try {
    // The old code rewrites the whole 4 MB day on every reserve, commit and release: fewer samples.
    return { before: await measureReserveIn(tree, 150), after };
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}
