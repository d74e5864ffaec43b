/**
 * Preloaded into the benchmarked bot (node --import) so the benchmark can read the process's own memory
 * and event-loop delay over IPC without the bot carrying benchmark code.
 */
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();

interface ProbeRequest {
  readonly probe: 'stats' | 'reset';
  /** Collect garbage first (the bot runs with --expose-gc under the benchmark), to read live memory. */
  readonly gc?: boolean;
}

/**
 * CommonJS modules loaded so far, counted per package: each installed copy under its own name (a second
 * undici shows as `undici (discord.js/node_modules)`). undici, discord.js and node-redis are CommonJS.
 */
function loadedModules(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const file of Object.keys(createRequire(import.meta.url).cache)) {
    const parts = file.split('node_modules/');
    const last = parts.at(-1) ?? '';
    const name = parts.length > 1 ? (/^((?:@[^/]+\/)?[^/]+)/.exec(last)?.[1] ?? 'other') : 'app';
    const parent = parts.length > 2 ? /^((?:@[^/]+\/)?[^/]+)/.exec(parts.at(-2) ?? '')?.[1] : undefined;
    const key = parent === undefined ? name : `${name} (${parent}/node_modules)`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

function isProbeRequest(value: unknown): value is ProbeRequest {
  return typeof value === 'object' && value !== null && 'probe' in value;
}

process.on('message', (message: unknown) => {
  if (!isProbeRequest(message) || !process.send) return;
  if (message.probe === 'reset') {
    delay.reset();
    process.send({ probe: 'reset' });
    return;
  }
  const collect = (globalThis as { gc?: () => void }).gc;
  if (message.gc && collect) collect();
  const memory = process.memoryUsage();
  process.send({
    probe: 'stats',
    modules: loadedModules(),
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    loopDelayMaxMs: delay.max / 1e6,
  });
});

// The IPC channel would keep the bot alive after its own shutdown; let the bot decide when to exit.
process.channel?.unref();
