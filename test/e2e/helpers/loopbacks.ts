/**
 * The loopback Discord and kie servers with a scratch directory for the bot's SQLite file, and the
 * environment that points a bot at them: shared by the in-process harness, the child-process rigs and
 * the benchmarks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LoopbackDiscord, type StartOptions } from './loopbackDiscord.js';
import { LoopbackKie } from './loopbackKie.js';

export interface LoopbackOptions {
  readonly discord?: StartOptions;
  readonly videoBytes?: number;
  /** Prefix of the scratch directory under the system temp dir. */
  readonly dirPrefix: string;
}

export interface Loopbacks {
  readonly discord: LoopbackDiscord;
  readonly kie: LoopbackKie;
  readonly dir: string;
  /** Everything the bot needs to reach the loopbacks and its store (HTTP on a free port). */
  readonly env: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

/** Polling fast enough that a test waits milliseconds, not seconds, for kie's answers. */
export const FAST_POLLING: Readonly<Record<string, string>> = {
  KIE_POLL_INTERVAL_MS: '40',
  KIE_HD_POLL_INTERVAL_MS: '40',
};

export async function startLoopbacks(options: LoopbackOptions): Promise<Loopbacks> {
  const discord = await LoopbackDiscord.start(options.discord);
  const kie = await LoopbackKie.start(options.videoBytes === undefined ? {} : { videoBytes: options.videoBytes });
  const dir = mkdtempSync(path.join(tmpdir(), options.dirPrefix));
  const env = {
    DISCORD_TOKEN: discord.botToken,
    DISCORD_APPLICATION_ID: discord.applicationId,
    DISCORD_API_BASE_URL: discord.apiBase,
    KIE_API_KEY: kie.apiKey,
    KIE_API_BASE_URL: kie.baseUrl,
    KIE_UPLOAD_BASE_URL: kie.baseUrl,
    STORE_URL: `sqlite://${path.join(dir, 'bot.sqlite')}`,
    HTTP_PORT: '0',
  };
  return {
    discord,
    kie,
    dir,
    env,
    async close() {
      await discord.close();
      await kie.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
