/**
 * Preloaded into the benchmarked bot (node --import) so the benchmark can read the process's own memory
 * and event-loop delay over IPC without the bot carrying benchmark code.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();

interface ProbeRequest {
  readonly probe: 'stats' | 'reset';
  /** Collect garbage first (the bot runs with --expose-gc under the benchmark), to read live memory. */
  readonly gc?: boolean;
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
