/**
 * `npm run bench`: drives the compiled bot (its own composition code and discord.js client, in a child
 * process) through the loopback Discord and kie servers of the tests, and prints figures. Time lives here,
 * never in tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { InteractionHandle, LoopbackDiscord, RecordedRequest } from '../test/e2e/helpers/loopbackDiscord.js';
import type { LoopbackKie } from '../test/e2e/helpers/loopbackKie.js';
import { startLoopbacks } from '../test/e2e/helpers/loopbacks.js';
import { BotProcess, type ProbeStats } from './botProcess.js';
import { BEFORE_COMMIT, measureFairQueue, measureReserve } from './publicBot.js';
import { measureShardMemory, measureSharedLimiter, medianOf, TODAY, TODAY_COMMIT } from './hosts.js';

const MiB = 1024 * 1024;
const STRING = 3;

interface Rig {
  readonly discord: LoopbackDiscord;
  readonly kie: LoopbackKie;
  readonly bot: BotProcess;
  readonly dir: string;
  close(): Promise<void>;
}

async function startRig(env: Record<string, string>, videoBytes?: number): Promise<Rig> {
  const loopbacks = await startLoopbacks({
    dirPrefix: 'veo-bench-',
    ...(videoBytes === undefined ? {} : { videoBytes }),
  });
  const { discord, kie, dir } = loopbacks;
  const bot = await BotProcess.start({
    ...loopbacks.env,
    QUOTA_LIMIT: '1000000',
    SERVER_MAX_ALLOWANCE: '1000000',
    MAX_ACTIVE_JOBS_PER_USER: '1000',
    SERVER_MAX_ACTIVE_JOBS: '1000',
    ...env,
  });
  return {
    discord,
    kie,
    bot,
    dir,
    async close() {
      await bot.stop();
      await loopbacks.close();
    },
  };
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? NaN;
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function isCallback(r: RecordedRequest, interactionId: string): boolean {
  return r.method === 'POST' && r.path.startsWith(`/interactions/${interactionId}/`);
}

function isFinalEdit(r: RecordedRequest, token: string): boolean {
  return r.method === 'PATCH' && r.path.includes(`/${token}/messages/@original`) && r.files.length > 0;
}

/** Sends `count` prompts at `perSecond`, each from a member of its own. */
async function dispatchPrompts(
  rig: Rig,
  count: number,
  perSecond: number,
  label: string,
  extra: { attachmentSizeLimit?: number } = {},
): Promise<InteractionHandle[]> {
  const handles: InteractionHandle[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    handles.push(
      await rig.discord.slashCommand({
        name: 'veo',
        subcommand: 'prompt',
        options: [{ name: 'prompt', type: STRING, value: `${label} ${i}` }],
        userId: String(800_000_000_000_000_000n + BigInt(i)),
        ...(extra.attachmentSizeLimit ? { attachmentSizeLimit: extra.attachmentSizeLimit } : {}),
      }),
    );
  }
  return handles;
}

/** What kie does when a task finishes: POST the documented success body to the job's callBackUrl. */
async function sendCallback(port: number, taskId: string, generateBody: unknown): Promise<void> {
  const callBackUrl = (generateBody as { callBackUrl?: string } | null)?.callBackUrl ?? '';
  const query = new URL(callBackUrl).search;
  const response = await fetch(`http://127.0.0.1:${port}/kie/callback${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      code: 200,
      msg: 'Veo3.1 video generated successfully.',
      data: { taskId, info: { resultUrls: [] } },
    }),
  });
  await response.arrayBuffer();
}

function contentOf(r: RecordedRequest): string {
  const content = (r.body as { content?: unknown } | null)?.content;
  return typeof content === 'string' ? content : '';
}

function dispatchAt(rig: Rig, handle: InteractionHandle): number {
  return rig.discord.requests.find((r) => r.seq === handle.seq)?.at ?? NaN;
}

async function measureAcknowledgement(): Promise<Record<string, number>> {
  const rig = await startRig({});
  rig.kie.autoComplete = null;
  try {
    const handles = await dispatchPrompts(rig, 1000, 100, 'ack');
    const latencies: number[] = [];
    for (const handle of handles) {
      const callback = await rig.discord.waitForRequest((r) => isCallback(r, handle.interactionId), {
        afterSeq: handle.seq,
        timeoutMs: 30_000,
      });
      latencies.push(callback.at - dispatchAt(rig, handle));
    }
    return {
      interactions: handles.length,
      p50Ms: round(percentile(latencies, 50), 2),
      p95Ms: round(percentile(latencies, 95), 2),
      p99Ms: round(percentile(latencies, 99), 2),
      maxMs: round(Math.max(...latencies), 2),
    };
  } finally {
    await rig.close();
  }
}

interface DelayResult {
  readonly mode: string;
  readonly jobs: number;
  readonly meanMs: number;
  readonly p95Ms: number;
  readonly kieRequestsPerJob: number;
  readonly discordRequestsPerJob: number;
}

/** Completes each task at a random moment and times how long until the mp4 reaches Discord. */
async function measureDelivery(
  mode: string,
  env: Record<string, string>,
  jobs: number,
  spreadMs: number,
): Promise<DelayResult> {
  const rig = await startRig(env);
  rig.kie.autoComplete = null;
  try {
    const callbackPort = env.PUBLIC_BASE_URL
      ? Number((await rig.bot.waitForLog((l) => l.msg === 'http server listening', 10_000)).port)
      : null;
    const handles = await dispatchPrompts(rig, jobs, 50, `delivery-${mode}`);
    const byPrompt = new Map(handles.map((h, i) => [`delivery-${mode} ${i}`, h]));
    const generates = await Promise.all(
      handles.map((_, i) =>
        rig.kie.waitFor(
          (r) =>
            r.path === '/api/v1/veo/generate' &&
            (r.json as { prompt?: string } | null)?.prompt === `delivery-${mode} ${i}`,
          30_000,
        ),
      ),
    );
    const delays: number[] = [];
    await Promise.all(
      generates.map(async (generate) => {
        const prompt = (generate.json as { prompt: string }).prompt;
        const handle = byPrompt.get(prompt);
        if (!handle || !generate.taskId) throw new Error('lost track of a job');
        await new Promise((r) => setTimeout(r, Math.random() * spreadMs));
        const doneAt = performance.now();
        rig.kie.completeTask(generate.taskId);
        if (callbackPort !== null) await sendCallback(callbackPort, generate.taskId, generate.json);
        const final = await rig.discord.waitForRequest((r) => isFinalEdit(r, handle.token), {
          afterSeq: handle.seq,
          timeoutMs: 120_000,
        });
        delays.push(final.at - doneAt);
      }),
    );
    const kieRequests = rig.kie.requests.filter((r) => r.path.startsWith('/api/v1/veo/')).length;
    const discordRequests = rig.discord.requests.filter((r) =>
      /^\/(interactions|webhooks|channels|users\/@me\/channels)/.test(r.path),
    ).length;
    return {
      mode,
      jobs,
      meanMs: round(mean(delays)),
      p95Ms: round(percentile(delays, 95)),
      kieRequestsPerJob: round(kieRequests / jobs, 2),
      discordRequestsPerJob: round(discordRequests / jobs, 2),
    };
  } finally {
    await rig.close();
  }
}

async function measureScale(): Promise<Record<string, number | boolean>> {
  const rig = await startRig({ KIE_GENERATE_RATE: '200/10s' });
  rig.kie.autoComplete = null;
  const samples: ProbeStats[] = [];
  const kernel: number[] = [];
  const sampler = setInterval(() => {
    void rig.bot.stats().then((s) => samples.push(s));
    kernel.push(rig.bot.memory().rss);
  }, 1000);
  try {
    const completions: Promise<void>[] = [];
    const seen = new Set<string>();
    const completer = setInterval(() => {
      for (const r of rig.kie.generateRequests()) {
        if (!r.taskId || seen.has(r.taskId)) continue;
        seen.add(r.taskId);
        const taskId = r.taskId;
        completions.push(
          new Promise((resolve) =>
            setTimeout(() => {
              rig.kie.completeTask(taskId);
              resolve();
            }, 60_000),
          ),
        );
      }
    }, 250);
    const handles = await dispatchPrompts(rig, 1000, 100, 'scale');
    rig.bot.resetLoopDelay();
    while (seen.size < handles.length) await new Promise((r) => setTimeout(r, 250));
    clearInterval(completer);
    await Promise.all(completions);
    let delivered = 0;
    for (const handle of handles) {
      try {
        await rig.discord.waitForRequest((r) => isFinalEdit(r, handle.token), {
          afterSeq: handle.seq,
          timeoutMs: 60_000,
        });
        delivered++;
      } catch {
        // Counted as missed below.
      }
    }
    const final = await rig.bot.stats();
    samples.push(final);
    const live = await rig.bot.stats({ gc: true });
    return {
      jobs: handles.length,
      delivered,
      missed: handles.length - delivered,
      peakRssMb: round(Math.max(...kernel, rig.bot.memory().peak) / MiB),
      peakHeapUsedMb: round(Math.max(...samples.map((s) => s.heapUsed)) / MiB),
      liveHeapAfterGcMb: round(live.heapUsed / MiB),
      rssAfterGcMb: round(live.rss / MiB),
      loopDelayP99Ms: round(final.loopDelayP99Ms, 2),
      loopDelayMaxMs: round(final.loopDelayMaxMs, 2),
    };
  } finally {
    clearInterval(sampler);
    await rig.close();
  }
}

async function measureRateLimit(): Promise<Record<string, number>> {
  const rig = await startRig({});
  rig.kie.autoComplete = null;
  try {
    const started = performance.now();
    const handles = await dispatchPrompts(rig, 150, 150, 'rate');
    await new Promise((r) => setTimeout(r, 60_000 - (performance.now() - started)));
    const times = rig.kie
      .generateRequests()
      .map((r) => r.at)
      .sort((a, b) => a - b);
    let maxPerWindow = 0;
    for (let i = 0; i < times.length; i++) {
      let j = i;
      while (j < times.length && (times[j] ?? Infinity) - (times[i] ?? 0) < 10_000) j++;
      maxPerWindow = Math.max(maxPerWindow, j - i);
    }
    const tokens = new Set(handles.map((h) => h.token));
    const positionEdits = rig.discord.requests.filter(
      (r) =>
        r.method === 'PATCH' && [...tokens].some((t) => r.path.includes(`/${t}/`)) && /position \d+/.test(contentOf(r)),
    );
    const statusEdits = rig.discord.requests.filter(
      (r) => r.method === 'PATCH' && r.files.length === 0 && r.path.includes('/messages/@original'),
    );
    return {
      submitted: handles.length,
      generateCalls: times.length,
      maxGeneratePer10s: maxPerWindow,
      queuePositionEdits: positionEdits.length,
      statusEditsPerJob: round(statusEdits.length / handles.length, 2),
    };
  } finally {
    await rig.close();
  }
}

async function measureRelayMemory(): Promise<Record<string, number | boolean>> {
  const videoBytes = 8 * MiB;
  const concurrency = 3;
  const limit = 25 * MiB;
  const rig = await startRig({ DELIVERY_CONCURRENCY: String(concurrency), KIE_POLL_INTERVAL_MS: '200' }, videoBytes);
  try {
    const warm = await dispatchPrompts(rig, 1, 1, 'relay-warmup', { attachmentSizeLimit: limit });
    await rig.discord.waitForRequest((r) => isFinalEdit(r, warm[0]!.token), { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 500));
    const before = rig.bot.memory().rss;
    const peakReset = rig.bot.resetPeak();
    let sampledPeak = before;
    const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, rig.bot.memory().rss)), 10);
    const handles = await dispatchPrompts(rig, 10, 1000, 'relay', { attachmentSizeLimit: limit });
    for (const handle of handles) {
      await rig.discord.waitForRequest((r) => isFinalEdit(r, handle.token), {
        afterSeq: handle.seq,
        timeoutMs: 120_000,
      });
    }
    clearInterval(sampler);
    const peak = Math.max(sampledPeak, peakReset ? rig.bot.memory().peak : 0);
    return {
      deliveries: handles.length,
      videoMb: videoBytes / MiB,
      concurrency,
      rssBeforeMb: round(before / MiB),
      peakRssMb: round(peak / MiB),
      peakIncreaseMb: round((peak - before) / MiB),
      boundMb: round((concurrency * limit) / MiB),
      withinBound: peak - before <= concurrency * limit,
    };
  } finally {
    await rig.close();
  }
}

function table(title: string, rows: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(rows).map((k) => k.length));
  return [`\n${title}`, ...Object.entries(rows).map(([k, v]) => `  ${k.padEnd(width)}  ${String(v)}`)].join('\n');
}

/** `npm run bench -- ack scale` runs only those sections; no argument runs them all. */
const only = new Set(process.argv.slice(2));
const wanted = (name: string) => only.size === 0 || only.has(name);

async function main(): Promise<void> {
  const started = Date.now();
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version };

  if (wanted('ack')) {
    const ack = await measureAcknowledgement();
    results.acknowledgement = ack;
    console.log(
      table(
        '1. Acknowledgement: gateway dispatch -> deferred callback at Discord (1000 at 100/s; target p99 <= 50 ms)',
        ack,
      ),
    );
  }

  if (wanted('delivery')) {
    const polling = await measureDelivery('polling', {}, 20, 10_000);
    const callback = await measureDelivery(
      'callback',
      { PUBLIC_BASE_URL: 'https://veo.example', ALLOW_UNSIGNED_CALLBACKS: 'true' },
      20,
      3_000,
    );
    const referenceMeanMs = 15_000;
    results.delivery = { polling, callback, reference: { pollingIntervalMs: 30_000, meanMs: referenceMeanMs } };
    console.log(
      table('2b. Delivery delay (callback mode: kie POSTs the callback when done)', {
        ...callback,
        speedupVsReference: round(referenceMeanMs / callback.meanMs, 2),
      }),
    );
    console.log(
      table('2. Delivery delay: kie marks done -> mp4 at Discord (polling, KIE_POLL_INTERVAL_MS=10000)', {
        ...polling,
        referenceMeanMs,
        speedupVsReference: round(referenceMeanMs / polling.meanMs, 2),
      }),
    );
    console.log(
      table('3. Requests per delivered job', {
        kiePolling: polling.kieRequestsPerJob,
        discordPolling: polling.discordRequestsPerJob,
        kieCallback: callback.kieRequestsPerJob,
        discordCallback: callback.discordRequestsPerJob,
      }),
    );
  }

  if (wanted('scale')) {
    const scale = await measureScale();
    results.scale = scale;
    console.log(
      table('4. Scale: 1000 live jobs (KIE_GENERATE_RATE=200/10s, kie generating 60 s; target RSS <= 150 MB)', scale),
    );
  }

  if (wanted('rate')) {
    const rate = await measureRateLimit();
    results.rateLimit = rate;
    console.log(table('4b. 60 s at the default rate (20/10s): generate calls per 10 s and queue positions', rate));
  }

  if (wanted('relay')) {
    const relay = await measureRelayMemory();
    results.relayMemory = relay;
    console.log(table('5. Relay memory: 10 deliveries of an 8 MB mp4 at once', relay));
  }

  if (wanted('fair')) {
    const fair = await measureFairQueue();
    results.fairQueue = fair;
    console.log(table("6. Fair queue: server A's 40 jobs, then server B's one (20/10s): B's wait", fair));
  }

  if (wanted('ledger')) {
    const ledger = await measureReserve();
    results.reserveOnBusyServer = ledger;
    for (const [when, figures] of Object.entries(ledger)) {
      const title = `7. reserve on a server with 50,000 jobs in its day (SQLite), ${when}`;
      const rows = typeof figures === 'string' ? { note: figures } : figures;
      console.log(table(when === 'before' ? `${title} (${BEFORE_COMMIT}, one entry per job)` : title, rows));
    }
  }

  // BENCH_RUNS=1 for a quick look; the figures are medians of 5 runs otherwise.
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  if (wanted('shards')) {
    const shards = await medianOf(runs, measureShardMemory);
    results.shardMemory = { after: shards, today: TODAY.shardMemory };
    console.log(
      table('8. One process, 16 shards, 2,000 servers of 20 channels and 12 roles (goal RSS <= 140 MB)', shards),
    );
    console.log(table(`   today (${TODAY_COMMIT}: a ShardingManager process per shard, summed)`, TODAY.shardMemory));
  }

  if (wanted('hosts')) {
    const one = await medianOf(runs, () => measureSharedLimiter(false));
    const spread = await medianOf(runs, () => measureSharedLimiter(true));
    results.sharedLimiter = { oneProcess: one, spread, today: { oneProcess: TODAY.oneProcess, spread: TODAY.spread } };
    const goal = '(goal: <= 20 in any 10 s, >= 19 per 10 s sustained)';
    console.log(table(`9. 4 processes on one Redis, 150 prompts into one of them ${goal}`, one));
    console.log(table(`   today (${TODAY_COMMIT}: each shard 1/4 of the account)`, TODAY.oneProcess));
    console.log(table('9b. the same, prompts spread over all four', spread));
    console.log(table(`   today (${TODAY_COMMIT})`, TODAY.spread));
  }

  results.durationS = round((Date.now() - started) / 1000);
  const out = path.resolve(import.meta.dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote bench/results/latest.json in ${String(results.durationS)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
