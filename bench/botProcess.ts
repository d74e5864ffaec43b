import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

export interface ProbeStats {
  /** CommonJS modules loaded, by package (`undici@<dir>` per installed copy). */
  readonly modules: Readonly<Record<string, number>>;
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
}

const root = path.resolve(import.meta.dirname, '..');
const probe = path.join(root, 'dist/bench/probe.js');

/** A built checkout the benchmark runs: this one, or "today's" code for the figures beside ours. */
export interface BenchTree {
  readonly label: string;
  readonly root: string;
}

export const THIS_TREE: BenchTree = { label: 'after', root };

/**
 * The node flags `npm start` gives the bot in that tree (its package.json `start` script), so the
 * benchmark measures the process as it runs in production.
 */
export function startFlags(tree: BenchTree): string[] {
  const scripts = (
    JSON.parse(readFileSync(path.join(tree.root, 'package.json'), 'utf8')) as { scripts?: { start?: string } }
  ).scripts;
  const command = /\bnode((?:\s+--\S+)*)\s+dist\/src\/index\.js/.exec(scripts?.start ?? '');
  if (!command) throw new Error(`${tree.root}: npm start does not run node dist/src/index.js`);
  return (command[1] ?? '').split(/\s+/).filter(Boolean);
}

/** The compiled bot in a child process of its own, so its memory is measured apart from the loopbacks. */
export class BotProcess {
  readonly logLines: Record<string, unknown>[] = [];
  readonly #exited: Promise<number | null>;
  #pending: ((stats: ProbeStats) => void)[] = [];

  private constructor(readonly child: ChildProcess) {
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        try {
          this.logLines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // A non-JSON line is not ours to interpret.
        }
      });
    }
    child.on('message', (message: unknown) => {
      if (typeof message === 'object' && message !== null && (message as { probe?: string }).probe === 'stats') {
        const waiter = this.#pending.shift();
        waiter?.(message as ProbeStats);
      }
    });
  }

  static async start(env: Record<string, string>, tree: BenchTree = THIS_TREE): Promise<BotProcess> {
    const flags = [...startFlags(tree), ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)];
    const entry = path.join(tree.root, 'dist/src/index.js');
    const child = spawn(process.execPath, [...flags, '--expose-gc', '--import', probe, entry], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    const bot = new BotProcess(child);
    await bot.waitForLog((l) => l.msg === 'connected to Discord', 30_000);
    return bot;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  async waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logLines.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error('bot process: expected log line did not appear');
      if (this.child.exitCode !== null) throw new Error(`bot process exited with ${this.child.exitCode}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stats(options: { gc?: boolean } = {}): Promise<ProbeStats> {
    return new Promise((resolve) => {
      this.#pending.push(resolve);
      this.child.send({ probe: 'stats', gc: options.gc ?? false });
    });
  }

  resetLoopDelay(): void {
    this.child.send({ probe: 'reset' });
  }

  /** Kernel counters: current and peak resident set. */
  memory(): { rss: number; peak: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  }

  /** CPU time the process used so far (user + system, from /proc), in seconds. */
  cpuSeconds(): number {
    const fields = readFileSync(`/proc/${this.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
    return ticks / 100;
  }

  /** Resets the kernel's peak-RSS mark (Linux clear_refs 5), so a phase measures its own peak. */
  resetPeak(): boolean {
    try {
      writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      return true;
    } catch {
      return false;
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 12_000);
    await this.#exited;
    clearTimeout(timer);
  }
}
