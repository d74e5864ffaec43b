import { loadConfig, type Config } from '../../../src/config.js';
import { buildBot, type Bot, type BotOverrides } from '../../../src/bot.js';
import type { JobRecord } from '../../../src/services/jobs/record.js';
import type { Clock } from '../../../src/lib/clock.js';
import { recordingLogger, type LogLine } from '../../helpers/logger.js';
import type { LoopbackDiscord, RecordedRequest, StartOptions } from './loopbackDiscord.js';
import type { LoopbackKie } from './loopbackKie.js';
import { FAST_POLLING, startLoopbacks } from './loopbacks.js';

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
  /** Origins of a test's own media servers the bot may fetch from over plain http. */
  readonly trustedMediaOrigins?: readonly string[];
  /** Bot overrides a test needs (stores wrapped with faults, a shorter step retry). */
  readonly bot?: Pick<BotOverrides, 'wrapStores' | 'stepRetryBaseMs'>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const loopbacks = await startLoopbacks({
    dirPrefix: 'veo-e2e-',
    ...(options.discord ? { discord: options.discord } : {}),
    ...(options.videoBytes === undefined ? {} : { videoBytes: options.videoBytes }),
    ...(options.trustedMediaOrigins ? { trustedMediaOrigins: options.trustedMediaOrigins } : {}),
  });
  const { discord, kie, dir } = loopbacks;
  const config = loadConfig({ ...loopbacks.env, ...FAST_POLLING, LOG_LEVEL: 'silent', ...options.env });
  const logs: LogLine[] = [];
  const bot = buildBot(config, {
    logger: recordingLogger(logs),
    processMetrics: false,
    ...(options.clock ? { clock: options.clock } : {}),
    ...options.bot,
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
      await loopbacks.close();
      // Every body the bot sent kie must fit kie's documented schema (the loopback answered 422 otherwise).
      if (kie.bodyViolations.length > 0) throw new Error(`kie bodies off the spec: ${kie.bodyViolations.join('; ')}`);
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
