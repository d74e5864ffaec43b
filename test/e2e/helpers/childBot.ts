/**
 * The compiled bot (dist/src/index.js) as a real child process, configured by environment variables
 * only, against loopback Discord and kie servers the test starts: for kill -9, shutdown and lease tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { loadConfig } from '../../../src/config.js';
import { systemClock } from '../../../src/lib/clock.js';
import type { JobRecord } from '../../../src/services/jobs/record.js';
import { JobStore } from '../../../src/services/jobs/store.js';
import { QuotaService } from '../../../src/services/quota/service.js';
import { openStores } from '../../../src/services/runtime/store.js';
import type { LoopbackDiscord, StartOptions, StoredMessage } from './loopbackDiscord.js';
import type { LoopbackKie } from './loopbackKie.js';
import { FAST_POLLING, startLoopbacks, type Loopbacks } from './loopbacks.js';

export const BOT_ENTRY = path.resolve('dist/src/index.js');
/** The compiled `npm run reshard`. */
export const RESHARD_ENTRY = path.resolve('dist/src/reshard.js');

/** One pino JSON line. */
export interface ChildLog {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface LogWaiter {
  predicate: (line: ChildLog) => boolean;
  resolve: (line: ChildLog) => void;
}

export class ChildBot {
  readonly logs: ChildLog[] = [];
  readonly exited: Promise<ChildExit>;
  stderr = '';
  readonly #child: ChildProcess;
  readonly #waiters = new Set<LogWaiter>();
  #exit: ChildExit | null = null;

  constructor(env: Record<string, string>, cwd: string, entry: string = BOT_ENTRY) {
    this.#child = spawn(process.execPath, ['--enable-source-maps', entry], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    this.#child.stderr?.setEncoding('utf8');
    this.#child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    const lines = createInterface({ input: this.#child.stdout! });
    lines.on('line', (text) => {
      let line: ChildLog;
      try {
        line = JSON.parse(text) as ChildLog;
      } catch {
        return;
      }
      this.logs.push(line);
      for (const waiter of [...this.#waiters]) {
        if (waiter.predicate(line)) {
          this.#waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    });
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** Resolves with the first log line (already written or still to come) that matches. */
  waitForLog(predicate: (line: ChildLog) => boolean, timeoutMs = 15_000): Promise<ChildLog> {
    const found = this.logs.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter: LogWaiter = {
        predicate,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        const tail = this.logs
          .slice(-8)
          .map((l) => l.msg)
          .join(' | ');
        reject(
          new Error(
            `child ${this.pid}: no matching log line within ${timeoutMs} ms; last: ${tail}; stderr: ${this.stderr.slice(-500)}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(waiter);
      void this.exited.then(() => {
        if (!this.#waiters.has(waiter)) return;
        this.#waiters.delete(waiter);
        clearTimeout(timer);
        reject(
          new Error(
            `child ${this.pid} exited (${JSON.stringify(this.#exit)}) before the log line; stderr: ${this.stderr.slice(-500)}`,
          ),
        );
      });
    });
  }

  waitForMessage(msg: string, timeoutMs?: number): Promise<ChildLog> {
    return this.waitForLog((l) => l.msg === msg, timeoutMs);
  }

  kill(signal: NodeJS.Signals): Promise<ChildExit> {
    if (this.#exit === null) this.#child.kill(signal);
    return this.exited;
  }
}

export interface CrashRigOptions {
  readonly env?: Record<string, string>;
  readonly discord?: StartOptions;
}

/** Loopback servers, one SQLite file, and the children started on it (counted). */
export class CrashRig {
  readonly children: ChildBot[] = [];

  readonly discord: LoopbackDiscord;
  readonly kie: LoopbackKie;
  readonly dir: string;
  readonly env: Record<string, string>;

  private constructor(
    private readonly loopbacks: Loopbacks,
    extraEnv: Record<string, string>,
  ) {
    this.discord = loopbacks.discord;
    this.kie = loopbacks.kie;
    this.dir = loopbacks.dir;
    this.env = {
      PATH: process.env.PATH ?? '',
      ...loopbacks.env,
      ...FAST_POLLING,
      LEASE_TTL_MS: '1500',
      LOG_LEVEL: 'info',
      ...extraEnv,
    };
  }

  static async start(options: CrashRigOptions = {}): Promise<CrashRig> {
    if (!existsSync(BOT_ENTRY)) throw new Error(`${BOT_ENTRY} is missing: run npm run build first`);
    const loopbacks = await startLoopbacks({
      dirPrefix: 'veo-crash-',
      ...(options.discord ? { discord: options.discord } : {}),
    });
    return new CrashRig(loopbacks, options.env ?? {});
  }

  /** Starts one more bot process on the same store. */
  spawn(extraEnv: Record<string, string> = {}, entry: string = BOT_ENTRY): ChildBot {
    const child = new ChildBot({ ...this.env, ...extraEnv }, this.dir, entry);
    this.children.push(child);
    return child;
  }

  /** Starts a bot and waits until it has the lease, is connected, and has resumed what it found. */
  async spawnReady(): Promise<ChildBot> {
    const child = this.spawn();
    await child.waitForMessage('jobs resumed');
    return child;
  }

  /** Processes started after the first one. */
  get restarts(): number {
    return Math.max(0, this.children.length - 1);
  }

  /** The job and the requester's units left, read from the store (SQLite: no bot may be running; Redis: any time). */
  async readStore(jobId: string): Promise<{ job: JobRecord | undefined; remaining: number }> {
    const config = loadConfig(this.env);
    const stores = openStores(config.store);
    try {
      await stores.ready;
      const job = await new JobStore(stores.jobs, systemClock).get(jobId);
      const quota = new QuotaService({ store: stores.quota, clock: systemClock, defaults: config.quota });
      const remaining = job ? (await quota.status({ guildId: job.guildId, userId: job.requesterId })).remaining : -1;
      return { job, remaining };
    } finally {
      await stores.close();
    }
  }

  /** Messages (any channel, DMs included) that carry this job's video as an attachment. */
  messagesWithVideo(jobId: string): StoredMessage[] {
    const name = `veo-${jobId}.mp4`;
    return [...this.discord.messages.values()].filter(
      (m) => !m.deleted && m.attachments.some((a) => a.filename === name),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.children.map((c) => c.kill('SIGKILL')));
    await this.loopbacks.close();
  }
}
