import { silentLogger, type Logger } from '../../logger.js';
import type { KiePauseReason } from './errors.js';

export type KieCircuitState = 'closed' | 'paused_credits' | 'paused_maintenance';

export interface KieCircuitOptions {
  /** Answers kie's remaining credits; throws while kie is unreachable or in maintenance. */
  probe: () => Promise<number>;
  probeIntervalMs?: number;
  logger?: Logger;
}

export type KieCircuitListener = (state: KieCircuitState, previous: KieCircuitState) => void;

const STATE_OF: Record<KiePauseReason, KieCircuitState> = {
  credits: 'paused_credits',
  maintenance: 'paused_maintenance',
};

/**
 * Stops new generations while kie cannot take them (no credits, maintenance), so jobs are refused before
 * anyone is charged, and probes the free credits endpoint until kie can take them again.
 */
export class KieCircuit {
  private current: KieCircuitState = 'closed';
  private readonly probe: () => Promise<number>;
  private readonly probeIntervalMs: number;
  private readonly logger: Logger;
  private readonly listeners = new Set<KieCircuitListener>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(options: KieCircuitOptions) {
    this.probe = options.probe;
    this.probeIntervalMs = options.probeIntervalMs ?? 60_000;
    this.logger = options.logger ?? silentLogger;
  }

  get state(): KieCircuitState {
    return this.current;
  }

  isOpen(): boolean {
    return this.current !== 'closed';
  }

  /** The reason generate is refused, or null while closed. */
  pauseReason(): KiePauseReason | null {
    if (this.current === 'paused_credits') return 'credits';
    if (this.current === 'paused_maintenance') return 'maintenance';
    return null;
  }

  open(reason: KiePauseReason): void {
    const next = STATE_OF[reason];
    if (this.current === next) return;
    this.transition(next);
    this.logger.error({ circuit: next }, `kie paused (${reason}): new generations are refused until it recovers`);
    this.schedule();
  }

  close(): void {
    if (this.current === 'closed') return;
    this.clearTimer();
    this.transition('closed');
    this.logger.info({ circuit: 'closed' }, 'kie resumed: generations are accepted again');
  }

  /** Returns a function that removes the listener. */
  onChange(listener: KieCircuitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private transition(next: KieCircuitState): void {
    const previous = this.current;
    this.current = next;
    for (const listener of this.listeners) {
      try {
        listener(next, previous);
      } catch (err) {
        this.logger.warn({ err }, 'kie circuit listener threw');
      }
    }
  }

  // A chained timeout rather than an interval: a probe that retries can outlast the interval.
  private schedule(): void {
    if (this.stopped || this.timer !== null || !this.isOpen()) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runProbe();
    }, this.probeIntervalMs);
    this.timer.unref();
  }

  private async runProbe(): Promise<void> {
    const probing = this.current;
    if (probing === 'closed' || this.stopped) return;
    try {
      const credits = await this.probe();
      // The state may have changed while the probe ran; judge only the state it was probing.
      if (this.current === probing && (probing === 'paused_maintenance' || credits > 0)) this.close();
    } catch (err) {
      this.logger.debug({ err, circuit: probing }, 'kie circuit probe failed; still paused');
    }
    this.schedule();
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
