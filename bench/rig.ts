/** The benchmark's rig: loopback Discord and kie, one compiled bot process, and the figures' arithmetic. */
import type { InteractionHandle, LoopbackDiscord, RecordedRequest } from '../test/e2e/helpers/loopbackDiscord.js';
import type { LoopbackKie } from '../test/e2e/helpers/loopbackKie.js';
import { startLoopbacks } from '../test/e2e/helpers/loopbacks.js';
import { BotProcess, THIS_TREE, type BenchTree } from './botProcess.js';

export const MiB = 1024 * 1024;
const STRING = 3;

export interface Rig {
  readonly discord: LoopbackDiscord;
  readonly kie: LoopbackKie;
  readonly bot: BotProcess;
  readonly dir: string;
  close(): Promise<void>;
}

export interface RigOptions {
  readonly videoBytes?: number;
  /** Which build runs (default: this checkout). */
  readonly tree?: BenchTree;
}

export async function startRig(env: Record<string, string>, options: RigOptions = {}): Promise<Rig> {
  const loopbacks = await startLoopbacks({
    dirPrefix: 'veo-bench-',
    ...(options.videoBytes === undefined ? {} : { videoBytes: options.videoBytes }),
  });
  const { discord, kie, dir } = loopbacks;
  const bot = await BotProcess.start(
    {
      ...loopbacks.env,
      QUOTA_LIMIT: '1000000',
      SERVER_MAX_ALLOWANCE: '1000000',
      MAX_ACTIVE_JOBS_PER_USER: '1000',
      SERVER_MAX_ACTIVE_JOBS: '1000',
      ...env,
    },
    options.tree ?? THIS_TREE,
  );
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

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? NaN;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? NaN)
    : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

export function isCallback(r: RecordedRequest, interactionId: string): boolean {
  return r.method === 'POST' && r.path.startsWith(`/interactions/${interactionId}/`);
}

export function isFinalEdit(r: RecordedRequest, token: string): boolean {
  return r.method === 'PATCH' && r.path.includes(`/${token}/messages/@original`) && r.files.length > 0;
}

/** Sends `count` prompts at `perSecond`, each from a member of its own. */
export async function dispatchPrompts(
  rig: Rig,
  count: number,
  perSecond: number,
  label: string,
  extra: { attachmentSizeLimit?: number } = {},
): Promise<InteractionHandle[]> {
  const handles: InteractionHandle[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + (i * 1000) / perSecond - performance.now();
    if (wait > 1) await sleep(wait);
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
export async function sendCallback(port: number, taskId: string, generateBody: unknown): Promise<void> {
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

export function contentOf(r: RecordedRequest): string {
  const content = (r.body as { content?: unknown } | null)?.content;
  return typeof content === 'string' ? content : '';
}

export function dispatchAt(rig: Rig, handle: InteractionHandle): number {
  return rig.discord.requests.find((r) => r.seq === handle.seq)?.at ?? NaN;
}

export function table(title: string, rows: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(rows).map((k) => k.length));
  return [`\n${title}`, ...Object.entries(rows).map(([k, v]) => `  ${k.padEnd(width)}  ${String(v)}`)].join('\n');
}
