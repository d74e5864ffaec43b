import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

export interface ProbeStats {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
}

const root = path.resolve(import.meta.dirname, '..');
const entry = path.join(root, 'dist/src/index.js');
const probe = path.join(root, 'dist/bench/probe.js');

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

  static async start(env: Record<string, string>): Promise<BotProcess> {
    const child = spawn(
      process.execPath,
      [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), '--expose-gc', '--import', probe, entry],
      {
        env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      },
    );
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
