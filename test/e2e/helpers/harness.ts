import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../../src/config.js';
import { buildBot, type Bot } from '../../../src/bot.js';
import type { Logger } from '../../../src/logger.js';
import type { JobRecord } from '../../../src/services/jobs/record.js';
import type { Clock } from '../../../src/lib/clock.js';
import { LoopbackDiscord, type RecordedRequest, type StartOptions } from './loopbackDiscord.js';
import { LoopbackKie } from './loopbackKie.js';

export interface LogLine {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

/** Keeps every log line so tests can assert on what an operator would read. */
export function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const make = (bindings: Record<string, unknown>): Logger & { lines: LogLine[] } => {
    const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
      lines.push({ level, fields: { ...bindings, ...fields }, message });
    };
    return {
      lines,
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return make({});
}

export interface Harness {
  readonly discord: LoopbackDiscord;
  readonly kie: LoopbackKie;
  readonly bot: Bot;
  readonly config: Config;
  readonly logs: LogLine[];
  readonly dir: string;
  /** Waits until the job created by this interaction satisfies the predicate. */
  job(interactionId: string, predicate?: (job: JobRecord) => boolean): Promise<JobRecord>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly env?: Record<string, string>;
  readonly videoBytes?: number;
  /** The bot's clock (the loopback servers keep real time), e.g. to move past the 14-minute token. */
  readonly clock?: Clock;
  /** Loopback Discord options (guild fixtures with a boost tier, ...). */
  readonly discord?: StartOptions;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const discord = await LoopbackDiscord.start(options.discord);
  const kie = await LoopbackKie.start(options.videoBytes === undefined ? {} : { videoBytes: options.videoBytes });
  const dir = mkdtempSync(path.join(tmpdir(), 'veo-e2e-'));
  const config = loadConfig({
    DISCORD_TOKEN: discord.botToken,
    DISCORD_APPLICATION_ID: discord.applicationId,
    KIE_API_KEY: kie.apiKey,
    KIE_API_BASE_URL: kie.baseUrl,
    KIE_UPLOAD_BASE_URL: kie.baseUrl,
    DISCORD_API_BASE_URL: discord.apiBase,
    STORE_URL: `sqlite://${path.join(dir, 'bot.sqlite')}`,
    KIE_POLL_INTERVAL_MS: '40',
    KIE_HD_POLL_INTERVAL_MS: '40',
    LOG_LEVEL: 'silent',
    HTTP_PORT: '0',
    ...options.env,
  });
  const logs: LogLine[] = [];
  const bot = buildBot(config, {
    logger: recordingLogger(logs),
    processMetrics: false,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  await bot.start();
  await discord.waitForReady();
  await new Promise<void>((resolve) => {
    if (bot.client.isReady()) resolve();
    else bot.client.once('clientReady', () => resolve());
  });

  async function job(interactionId: string, predicate: (job: JobRecord) => boolean = () => true): Promise<JobRecord> {
    for (let i = 0; i < 400; i++) {
      const accepted = logs.find((l) => l.message === 'job accepted' && l.fields.interactionId === interactionId);
      const record = accepted ? await bot.jobs.get(String(accepted.fields.jobId)) : undefined;
      if (record && predicate(record)) return record;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no job for interaction ${interactionId} reached the expected state`);
  }

  return {
    discord,
    kie,
    bot,
    config,
    logs,
    dir,
    job,
    async close() {
      await bot.stop();
      await discord.close();
      await kie.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function isCallback(r: RecordedRequest, interactionId: string): boolean {
  return r.method === 'POST' && r.path.startsWith(`/interactions/${interactionId}/`) && r.path.endsWith('/callback');
}

export function isOriginalEdit(r: RecordedRequest, token: string): boolean {
  return r.method === 'PATCH' && r.path.includes(`/webhooks/`) && r.path.includes(`/${token}/messages/@original`);
}

export function bodyOf(r: RecordedRequest): Record<string, unknown> {
  return (r.body ?? {}) as Record<string, unknown>;
}
