/** One run of each measurement, on a given build; `run.ts` repeats them and prints the medians. */
import type { ProbeStats } from './botProcess.js';
import { THIS_TREE, type BenchTree } from './botProcess.js';
import { REFERENCE_INTERVAL_MS, watchLikeReference } from './referenceClient.js';
import {
  contentOf,
  dispatchAt,
  dispatchPrompts,
  isCallback,
  isFinalEdit,
  mean,
  MiB,
  percentile,
  round,
  sendCallback,
  sleep,
  startRig,
} from './rig.js';

export type Figures = Record<string, number>;

/** How long an idle bot runs before its RSS is read: V8's memory reducer shrinks the heap within about 20 s. */
const IDLE_SETTLE_MS = 25_000;

/**
 * The bot connected and idle on SQLite: resident memory just after connecting and once settled (no
 * forced GC), and what it loaded (one undici, no node-redis).
 */
export async function measureIdle(tree: BenchTree = THIS_TREE): Promise<Figures> {
  const rig = await startRig({}, { tree });
  try {
    const connected = rig.bot.memory().rss;
    await sleep(IDLE_SETTLE_MS);
    const { rss, peak } = rig.bot.memory();
    const { modules } = await rig.bot.stats();
    const count = (match: (name: string) => boolean) =>
      Object.entries(modules)
        .filter(([name]) => match(name))
        .reduce((sum, [, n]) => sum + n, 0);
    return {
      rssConnectedMb: round(connected / MiB),
      rssMb: round(rss / MiB),
      startupPeakMb: round(peak / MiB),
      undiciCopies: Object.keys(modules).filter((name) => name.startsWith('undici')).length,
      undiciModules: count((name) => name.startsWith('undici')),
      redisClientModules: count((name) => name.startsWith('@redis/')),
      cjsModules: count(() => true),
    };
  } finally {
    await rig.close();
  }
}

export async function measureAcknowledgement(tree: BenchTree = THIS_TREE): Promise<Figures> {
  const rig = await startRig({}, { tree });
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
    const { peak } = rig.bot.memory();
    return {
      interactions: handles.length,
      p50Ms: round(percentile(latencies, 50), 2),
      p95Ms: round(percentile(latencies, 95), 2),
      p99Ms: round(percentile(latencies, 99), 2),
      maxMs: round(Math.max(...latencies), 2),
      peakRssMb: round(peak / MiB),
    };
  } finally {
    await rig.close();
  }
}

/**
 * Each task finishes at a random moment within one reference interval of its generate call; the bot's
 * delay is from then to the mp4 at Discord, the reference client's (polling the same tasks, started at
 * the same generate call) from then to its read that sees it.
 */
export async function measureDelivery(mode: 'polling' | 'callback', jobs: number, tree = THIS_TREE): Promise<Figures> {
  const env: Record<string, string> =
    mode === 'callback' ? { PUBLIC_BASE_URL: 'https://veo.example', ALLOW_UNSIGNED_CALLBACKS: 'true' } : {};
  const rig = await startRig(env, { tree });
  rig.kie.autoComplete = null;
  try {
    const callbackPort = env.PUBLIC_BASE_URL
      ? Number((await rig.bot.waitForLog((l) => l.msg === 'http server listening', 10_000)).port)
      : null;
    const label = `delivery-${mode}`;
    const handles = await dispatchPrompts(rig, jobs, 50, label);
    const byPrompt = new Map(handles.map((h, i) => [`${label} ${i}`, h]));
    const promptOf = (body: unknown) => (body as { prompt?: string } | null)?.prompt;
    const generates = await Promise.all(
      handles.map((_, i) =>
        rig.kie.waitFor((r) => r.path === '/api/v1/veo/generate' && promptOf(r.json) === `${label} ${i}`, 30_000),
      ),
    );
    const ours: number[] = [];
    const reference: number[] = [];
    let referenceReads = 0;
    await Promise.all(
      generates.map(async (generate) => {
        const handle = byPrompt.get(promptOf(generate.json) ?? '');
        const taskId = generate.taskId;
        if (!handle || !taskId) throw new Error('lost track of a job');
        const watch = watchLikeReference(rig.kie.baseUrl, rig.kie.apiKey, taskId, generate.at);
        await sleep(generate.at + Math.random() * (REFERENCE_INTERVAL_MS - 500) - performance.now());
        const doneAt = performance.now();
        rig.kie.completeTask(taskId);
        if (callbackPort !== null) await sendCallback(callbackPort, taskId, generate.json);
        const final = await rig.discord.waitForRequest((r) => isFinalEdit(r, handle.token), {
          afterSeq: handle.seq,
          timeoutMs: 120_000,
        });
        ours.push(final.at - doneAt);
        const seenAt = await watch.seenAt;
        referenceReads += watch.reads();
        if (seenAt !== null) reference.push(seenAt - doneAt);
      }),
    );
    const kieReads = rig.kie.requests.filter((r) => r.path.startsWith('/api/v1/veo/')).length - referenceReads;
    const discordRequests = rig.discord.requests.filter((r) =>
      /^\/(interactions|webhooks|channels|users\/@me\/channels)/.test(r.path),
    ).length;
    return {
      jobs,
      meanMs: round(mean(ours)),
      p95Ms: round(percentile(ours, 95)),
      referenceMeanMs: round(mean(reference)),
      referenceP95Ms: round(percentile(reference, 95)),
      speedupVsReference: round(mean(reference) / mean(ours), 2),
      kieRequestsPerJob: round(kieReads / jobs, 2),
      discordRequestsPerJob: round(discordRequests / jobs, 2),
    };
  } finally {
    await rig.close();
  }
}

export async function measureScale(tree: BenchTree = THIS_TREE): Promise<Figures> {
  const rig = await startRig({ KIE_GENERATE_RATE: '200/10s' }, { tree });
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
    const accepted = new Set<string>();
    const completer = setInterval(() => {
      for (const r of rig.kie.generateRequests()) {
        if (!r.taskId || seen.has(r.taskId)) continue;
        seen.add(r.taskId);
        accepted.add((r.json as { prompt?: string } | null)?.prompt ?? '');
        const taskId = r.taskId;
        completions.push(sleep(60_000).then(() => rig.kie.completeTask(taskId)));
      }
    }, 250);
    const handles = await dispatchPrompts(rig, 1000, 100, 'scale');
    rig.bot.resetLoopDelay();
    // An interaction the bot refused (its store too slow for the acknowledgement) never reaches kie.
    const quiet = { since: performance.now(), count: 0 };
    while (seen.size < handles.length && performance.now() - quiet.since < 20_000) {
      await sleep(250);
      if (seen.size !== quiet.count) Object.assign(quiet, { since: performance.now(), count: seen.size });
    }
    clearInterval(completer);
    await Promise.all(completions);
    const jobs = handles.filter((_, i) => accepted.has(`scale ${String(i)}`));
    const finals = await Promise.allSettled(
      jobs.map((handle) =>
        rig.discord.waitForRequest((r) => isFinalEdit(r, handle.token), { afterSeq: handle.seq, timeoutMs: 60_000 }),
      ),
    );
    const delivered = finals.filter((f) => f.status === 'fulfilled').length;
    const final = await rig.bot.stats();
    samples.push(final);
    const live = await rig.bot.stats({ gc: true });
    return {
      interactions: handles.length,
      refused: handles.length - jobs.length,
      delivered,
      missed: jobs.length - delivered,
      peakRssMb: round(Math.max(...kernel, rig.bot.memory().peak) / MiB),
      peakHeapUsedMb: round(Math.max(...samples.map((s) => s.heapUsed)) / MiB),
      liveHeapAfterGcMb: round(live.heapUsed / MiB),
      rssAfterGcMb: round(live.rss / MiB),
      loopDelayP99Ms: round(final.loopDelayP99Ms, 2),
      loopDelayMaxMs: round(final.loopDelayMaxMs, 2),
      cpuSeconds: round(rig.bot.cpuSeconds(), 1),
    };
  } finally {
    clearInterval(sampler);
    await rig.close();
  }
}

export async function measureRateLimit(): Promise<Figures> {
  const rig = await startRig({});
  rig.kie.autoComplete = null;
  try {
    const started = performance.now();
    const handles = await dispatchPrompts(rig, 150, 150, 'rate');
    await sleep(60_000 - (performance.now() - started));
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

/** Ten 8 MB videos delivered at DELIVERY_CONCURRENCY 3: how far RSS rises over the warmed-up bot's. */
export async function measureRelayMemory(tree: BenchTree = THIS_TREE): Promise<Figures> {
  const videoBytes = 8 * MiB;
  const limit = 25 * MiB;
  const rig = await startRig({ DELIVERY_CONCURRENCY: '3', KIE_POLL_INTERVAL_MS: '200' }, { videoBytes, tree });
  try {
    const [warm] = await dispatchPrompts(rig, 1, 1, 'relay-warmup', { attachmentSizeLimit: limit });
    await rig.discord.waitForRequest((r) => isFinalEdit(r, warm!.token), { timeoutMs: 60_000 });
    await sleep(500);
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
      rssBeforeMb: round(before / MiB),
      peakRssMb: round(peak / MiB),
      peakIncreaseMb: round((peak - before) / MiB),
    };
  } finally {
    await rig.close();
  }
}
