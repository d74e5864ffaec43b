/**
 * `npm run bench`: drives the compiled bot (its own composition code and discord.js client, in a child
 * process started with `npm start`'s node flags) through the loopback Discord and kie servers of the
 * tests, and prints figures. Time lives here, never in tests.
 *
 * Each measured goal is the median of BENCH_RUNS runs (5), printed beside "today": the same runs on a
 * built checkout of the code before (BENCH_BEFORE_TREE, labelled BENCH_BEFORE_COMMIT), or else the
 * figures recorded in bench/today.json.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { THIS_TREE, type BenchTree } from './botProcess.js';
import {
  measureAcknowledgement,
  measureDelivery,
  measureIdle,
  measureRateLimit,
  measureRelayMemory,
  measureScale,
  type Figures,
} from './measures.js';
import { BEFORE_COMMIT, measureFairQueue, measureReserve } from './publicBot.js';
import { measureShardMemory, measureSharedLimiter, medianOf, TODAY, TODAY_COMMIT } from './hosts.js';
import { median, round, table } from './rig.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

interface Today {
  readonly commit: string;
  readonly date: string;
  readonly figures: Readonly<Record<string, Figures>>;
}

const recorded = JSON.parse(readFileSync(path.join(import.meta.dirname, 'today.json'), 'utf8')) as Today;
const beforeTree: BenchTree | null = process.env.BENCH_BEFORE_TREE
  ? { label: 'today', root: path.resolve(process.env.BENCH_BEFORE_TREE) }
  : null;
const todayLabel = beforeTree
  ? `today (${process.env.BENCH_BEFORE_COMMIT ?? 'BENCH_BEFORE_TREE'}, measured now)`
  : `today (${recorded.commit}, recorded ${recorded.date})`;

/** Every figure's median over `runs` runs, and each run's value. */
async function repeated(runs: number, measure: () => Promise<Figures>): Promise<{ median: Figures; runs: Figures[] }> {
  const all: Figures[] = [];
  for (let i = 0; i < runs; i++) all.push(await measure());
  const keys = Object.keys(all[0] ?? {});
  return { median: Object.fromEntries(keys.map((k) => [k, round(median(all.map((f) => f[k] ?? NaN)), 2)])), runs: all };
}

interface Compared {
  readonly today: Figures;
  readonly after: Figures;
  readonly runs: { readonly today: Figures[]; readonly after: Figures[] };
}

/** The section on this tree, and on today's (measured now, or as recorded). */
async function compared(name: string, measure: (tree: BenchTree) => Promise<Figures>): Promise<Compared> {
  const after = await repeated(RUNS, () => measure(THIS_TREE));
  const tree = beforeTree;
  const today = tree ? await repeated(RUNS, () => measure(tree)) : { median: recorded.figures[name] ?? {}, runs: [] };
  return { today: today.median, after: after.median, runs: { today: today.runs, after: after.runs } };
}

function sideBySide(title: string, figures: Compared): string {
  const keys = [...new Set([...Object.keys(figures.today), ...Object.keys(figures.after)])];
  const width = Math.max(...keys.map((k) => k.length));
  const column = Math.max(todayLabel.length, 8);
  const lines = keys.map((k) => {
    const each = figures.runs.after.map((f) => f[k]).join(' · ');
    const today = String(figures.today[k] ?? '–').padEnd(column);
    return `  ${k.padEnd(width)}  ${today}  ${String(figures.after[k] ?? '–').padEnd(8)}  runs: ${each}`;
  });
  return [
    `\n${title} (median of ${String(RUNS)})`,
    `  ${''.padEnd(width)}  ${todayLabel.padEnd(column)}  after`,
    ...lines,
  ].join('\n');
}

interface Goal {
  readonly name: string;
  readonly today: number | undefined;
  readonly after: number | undefined;
  readonly target: number;
}

function goalsTable(goals: readonly Goal[]): string {
  const rows = goals.map((g) => {
    const met =
      g.after === undefined ? '–' : g.after <= g.target ? 'yes' : `no (+${String(round(g.after - g.target))})`;
    return `  ${g.name.padEnd(40)}  ${String(g.today ?? '–').padEnd(todayLabel.length)}  ${String(g.after ?? '–').padEnd(8)}  ≤ ${String(g.target).padEnd(6)}  ${met}`;
  });
  return [
    `\nGoals (issue 15), median of ${String(RUNS)}`,
    `  ${'goal'.padEnd(40)}  ${todayLabel}  after     target  met`,
    ...rows,
  ].join('\n');
}

/** `npm run bench -- ack scale` runs only those sections; no argument runs them all. */
const only = new Set(process.argv.slice(2));
const wanted = (name: string) => only.size === 0 || only.has(name);

async function main(): Promise<void> {
  const started = Date.now();
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, runs: RUNS };
  const goals: Goal[] = [];
  const goal = (name: string, section: Compared, key: string, target: number) =>
    goals.push({ name, today: section.today[key], after: section.after[key], target });

  if (wanted('idle')) {
    const idle = await compared('idle', measureIdle);
    results.idle = idle;
    console.log(
      sideBySide('0. Idle on SQLite: RSS on connecting and 25 s later, start-up peak, CommonJS modules loaded', idle),
    );
    goal('idle single process, RSS MB', idle, 'rssMb', 100);
  }

  if (wanted('ack')) {
    const ack = await compared('ack', measureAcknowledgement);
    results.acknowledgement = ack;
    console.log(
      sideBySide('1. Acknowledgement: gateway dispatch -> deferred callback at Discord (1000 at 100/s)', ack),
    );
    goal('acknowledgement p99, ms', ack, 'p99Ms', 50);
  }

  if (wanted('delivery')) {
    const polling = await compared('deliveryPolling', (tree) => measureDelivery('polling', 20, tree));
    const callback = await compared('deliveryCallback', (tree) => measureDelivery('callback', 20, tree));
    results.delivery = { polling, callback };
    const reference = 'the reference client (30 s polling) on the same tasks';
    console.log(
      sideBySide(`2. Delivery delay, kie done -> mp4 at Discord, polling (10 s); beside ${reference}`, polling),
    );
    console.log(sideBySide(`2b. Delivery delay, callback mode; beside ${reference}`, callback));
  }

  if (wanted('scale')) {
    const scale = await compared('scale', measureScale);
    results.scale = scale;
    console.log(sideBySide('4. Scale: 1000 live jobs (KIE_GENERATE_RATE=200/10s, kie generating 60 s)', scale));
    goal('1,000 live jobs, peak RSS MB', scale, 'peakRssMb', 140);
  }

  if (wanted('rate')) {
    const rate = await measureRateLimit();
    results.rateLimit = rate;
    console.log(table('4b. 60 s at the default rate (20/10s): generate calls per 10 s and queue positions', rate));
  }

  if (wanted('relay')) {
    const relay = await compared('relay', measureRelayMemory);
    results.relayMemory = relay;
    console.log(sideBySide('5. Relay memory: 10 deliveries of an 8 MB mp4 at DELIVERY_CONCURRENCY=3', relay));
    goal('relay 10 x 8 MB at concurrency 3, +MB', relay, 'peakIncreaseMb', 25);
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

  if (wanted('shards')) {
    const shards = await medianOf(RUNS, measureShardMemory);
    results.shardMemory = { after: shards, today: TODAY.shardMemory };
    console.log(
      table('8. One process, 16 shards, 2,000 servers of 20 channels and 12 roles (goal RSS <= 140 MB)', shards),
    );
    console.log(table(`   today (${TODAY_COMMIT}: a ShardingManager process per shard, summed)`, TODAY.shardMemory));
    goals.push({
      name: '16 shards, 2,000 servers, RSS MB',
      today: TODAY.shardMemory.rssMb,
      after: shards.rssMb,
      target: 140,
    });
  }

  if (wanted('hosts')) {
    const one = await medianOf(RUNS, () => measureSharedLimiter(false));
    const spread = await medianOf(RUNS, () => measureSharedLimiter(true));
    results.sharedLimiter = { oneProcess: one, spread, today: { oneProcess: TODAY.oneProcess, spread: TODAY.spread } };
    const goal = '(goal: <= 20 in any 10 s, >= 19 per 10 s sustained)';
    console.log(table(`9. 4 processes on one Redis, 150 prompts into one of them ${goal}`, one));
    console.log(table(`   today (${TODAY_COMMIT}: each shard 1/4 of the account)`, TODAY.oneProcess));
    console.log(table('9b. the same, prompts spread over all four', spread));
    console.log(table(`   today (${TODAY_COMMIT})`, TODAY.spread));
  }

  if (goals.length > 0) console.log(goalsTable(goals));
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
