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
  /** More origins the bot may fetch media from over plain http (a test's own CDN stand-in). */
  readonly trustedMediaOrigins?: readonly string[];
  /** Prefix of the scratch directory under the system temp dir. */
  readonly dirPrefix: string;
}

export interface Loopbacks {
  readonly discord: LoopbackDiscord;
  readonly kie: LoopbackKie;
  readonly dir: string;
  /** Everything the bot needs to reach the loopbacks and its store (both listeners on free ports). */
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
  // The loopbacks serve media over http://127.0.0.1, which the media fetch guard refuses unless trusted.
  const trusted = [
    new URL(kie.baseUrl).origin,
    new URL(discord.apiBase).origin,
    ...(options.trustedMediaOrigins ?? []),
  ];
  const env = {
    DISCORD_TOKEN: discord.botToken,
    DISCORD_APPLICATION_ID: discord.applicationId,
    DISCORD_API_BASE_URL: discord.apiBase,
    KIE_API_KEY: kie.apiKey,
    KIE_API_BASE_URL: kie.baseUrl,
    KIE_UPLOAD_BASE_URL: kie.baseUrl,
    STORE_URL: `sqlite://${path.join(dir, 'bot.sqlite')}`,
    HTTP_PORT: '0',
    OPS_HTTP_PORT: '0',
    TRUSTED_MEDIA_ORIGINS: trusted.join(','),
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
