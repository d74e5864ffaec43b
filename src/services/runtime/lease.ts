import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type Keyv from 'keyv';
import { realSleep, type Clock, type Sleep } from '../../lib/clock.js';
import type { Logger } from '../../logger.js';

/** Who holds the store: the value of `leases:<shard>` (DESIGN §8). */
export interface LeaseHolder {
  /** Random per process, so two processes with the same pid (containers) are never confused. */
  readonly id: string;
  readonly pid: number;
  readonly host: string;
  readonly expiresAt: number;
}

export const DEFAULT_LEASE_TTL_MS = 30_000;

export interface LeaseDeps {
  /** The `leases` namespace. */
  readonly store: Keyv;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly shard?: number;
  /** How long a lease lives without renewal (30 s). */
  readonly ttlMs?: number;
  /** Renewal period (ttl / 3, so 10 s by default). */
  readonly renewMs?: number;
  /** How often a waiting process looks again (ttl / 3). */
  readonly retryMs?: number;
  /** Pause between writing a lease and reading it back, to notice a process that wrote at the same moment. */
  readonly settleMs?: number;
  readonly pid?: number;
  readonly host?: string;
  /** Whether a process of this host is still running (signal 0). */
  readonly isProcessAlive?: (pid: number) => boolean;
  readonly sleep?: Sleep;
  /** Another process took the lease from under us: stop writing. */
  readonly onLost?: () => void;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return error instanceof Error && 'code' in error && error.code === 'EPERM';
  }
}

/**
 * The single-writer lease of DESIGN §8. Keyv has no compare-and-set, so taking the lease is
 * write-then-read-back after a short pause; renewal re-reads and gives up when someone else holds it.
 */
export class LeaseService {
  readonly #key: string;
  readonly #id = randomBytes(8).toString('hex');
  readonly #ttlMs: number;
  readonly #renewMs: number;
  readonly #retryMs: number;
  readonly #settleMs: number;
  readonly #pid: number;
  readonly #host: string;
  readonly #alive: (pid: number) => boolean;
  readonly #sleep: Sleep;
  #timer: NodeJS.Timeout | null = null;
  #held = false;
  #renewing: Promise<void> | null = null;

  constructor(private readonly deps: LeaseDeps) {
    this.#key = String(deps.shard ?? 0);
    this.#ttlMs = deps.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    this.#renewMs = deps.renewMs ?? Math.max(10, Math.floor(this.#ttlMs / 3));
    this.#retryMs = deps.retryMs ?? Math.max(10, Math.floor(this.#ttlMs / 3));
    this.#settleMs = deps.settleMs ?? Math.min(500, Math.max(20, Math.floor(this.#ttlMs / 60)));
    this.#pid = deps.pid ?? process.pid;
    this.#host = deps.host ?? hostname();
    this.#alive = deps.isProcessAlive ?? processAlive;
    this.#sleep = deps.sleep ?? realSleep;
  }

  get held(): boolean {
    return this.#held;
  }

  /** Resolves once this process holds the lease; waits (and says why) while another live process does. */
  async acquire(signal?: AbortSignal): Promise<void> {
    if (this.#held) return;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      const current = await this.#read();
      const why = current ? this.#blockedBy(current) : null;
      if (why === null) {
        await this.deps.store.set(this.#key, this.#mine());
        await this.#sleep(this.#settleMs, signal);
        if ((await this.#read())?.id === this.#id) {
          this.#held = true;
          this.#startRenewing();
          this.deps.logger.info(
            {
              lease: `leases:${this.#key}`,
              pid: this.#pid,
              ttlMs: this.#ttlMs,
              tookOver: current ? { pid: current.pid, host: current.host } : null,
            },
            'store lease acquired',
          );
          return;
        }
        this.deps.logger.warn(
          { lease: `leases:${this.#key}`, attempt },
          'another process took the store lease at the same moment; waiting',
        );
      } else if (current) {
        this.deps.logger.warn(
          {
            lease: `leases:${this.#key}`,
            attempt,
            holderPid: current.pid,
            holderHost: current.host,
            expiresInMs: current.expiresAt - this.deps.clock.now(),
            retryInMs: this.#retryMs,
          },
          `store lease held by another live process (${why}); not resuming jobs until it is released or expires`,
        );
      }
      await this.#sleep(this.#retryMs, signal);
    }
  }

  /** Gives the lease back (shutdown): the next process starts at once instead of waiting for expiry. */
  async release(): Promise<void> {
    this.#stopRenewing();
    await this.#renewing?.catch(() => undefined);
    if (!this.#held) return;
    this.#held = false;
    const current = await this.#read();
    if (current?.id === this.#id) await this.deps.store.delete(this.#key);
    this.deps.logger.info({ lease: `leases:${this.#key}` }, 'store lease released');
  }

  /** Stops renewing without touching the store (the store may already be closed). */
  stop(): void {
    this.#stopRenewing();
  }

  /** null when the lease can be taken; otherwise why not. */
  #blockedBy(current: LeaseHolder): string | null {
    if (current.id === this.#id) return null;
    if (current.expiresAt <= this.deps.clock.now()) return null;
    // A holder on this host whose process is gone crashed: no need to wait out its TTL.
    if (current.host === this.#host && current.pid !== this.#pid && !this.#alive(current.pid)) return null;
    return current.host === this.#host ? 'same host' : 'other host';
  }

  async #read(): Promise<LeaseHolder | undefined> {
    const value = await this.deps.store.get<LeaseHolder>(this.#key);
    return value ?? undefined;
  }

  #mine(): LeaseHolder {
    return { id: this.#id, pid: this.#pid, host: this.#host, expiresAt: this.deps.clock.now() + this.#ttlMs };
  }

  #startRenewing(): void {
    this.#stopRenewing();
    this.#timer = setInterval(() => {
      if (this.#renewing) return;
      this.#renewing = this.#renew().finally(() => {
        this.#renewing = null;
      });
    }, this.#renewMs);
    this.#timer.unref();
  }

  #stopRenewing(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #renew(): Promise<void> {
    if (!this.#held) return;
    try {
      const current = await this.#read();
      if (current && current.id !== this.#id && current.expiresAt > this.deps.clock.now()) {
        this.#held = false;
        this.#stopRenewing();
        this.deps.logger.error(
          { lease: `leases:${this.#key}`, holderPid: current.pid, holderHost: current.host },
          'store lease lost to another process; stopping',
        );
        this.deps.onLost?.();
        return;
      }
      await this.deps.store.set(this.#key, this.#mine());
    } catch (error) {
      this.deps.logger.warn({ lease: `leases:${this.#key}`, err: error }, 'store lease renewal failed; will try again');
    }
  }
}
