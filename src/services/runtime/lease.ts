import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
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
  /**
   * The holder's PID namespace (Linux `/proc/self/ns/pid`), null where unknown: a pid means the same
   * process only inside one namespace, and containers sharing a hostname do not share one.
   */
  readonly pidNamespace?: string | null;
  readonly expiresAt: number;
}

/** An atomic compare-and-set on a lease key, where the store has one (Redis: DESIGN §8). */
export interface AtomicLeases {
  /**
   * Writes `next`, expiring after `ttlMs`, if the key is absent (`expectedId` null: `SET NX PX`) or holds
   * `expectedId`'s lease; true when it wrote.
   */
  swap(key: string, expectedId: string | null, next: LeaseHolder, ttlMs: number): Promise<boolean>;
  /** Deletes the key if it holds `id`'s lease. */
  remove(key: string, id: string): Promise<void>;
}

/** This process's PID namespace, or null where the platform does not say (then no pid is trusted). */
export function currentPidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

export const DEFAULT_LEASE_TTL_MS = 30_000;

export interface LeaseDeps {
  /** The `leases` namespace. */
  readonly store: Keyv;
  /** Atomic writes on the same keys (Redis); without them, write-then-read-back after a pause. */
  readonly atomic?: AtomicLeases | null;
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
  readonly pidNamespace?: string | null;
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
 * The single-writer lease of DESIGN §8. On Redis, taking and renewing it are atomic (`SET NX PX`, and a
 * compare-and-set on the holder's id). Keyv alone has no compare-and-set, so there taking the lease is
 * write-then-read-back after a short pause, and renewal re-reads and gives up when someone else holds it.
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
  readonly #pidNamespace: string | null;
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
    this.#pidNamespace = deps.pidNamespace === undefined ? currentPidNamespace() : deps.pidNamespace;
    this.#alive = deps.isProcessAlive ?? processAlive;
    this.#sleep = deps.sleep ?? realSleep;
  }

  get held(): boolean {
    return this.#held;
  }

  /** Resolves once this process holds the lease; waits (and says why) while another live process does. */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (let attempt = 1; !this.#held; attempt++) {
      signal?.throwIfAborted();
      const blocker = await this.tryAcquire(signal);
      if (blocker === null) return;
      if (blocker === 'race') {
        this.deps.logger.warn(
          { lease: `leases:${this.#key}`, attempt },
          'another process took the store lease at the same moment; waiting',
        );
      } else {
        this.deps.logger.warn(
          {
            lease: `leases:${this.#key}`,
            attempt,
            holderPid: blocker.holder.pid,
            holderHost: blocker.holder.host,
            expiresInMs: blocker.holder.expiresAt - this.deps.clock.now(),
            retryInMs: this.#retryMs,
          },
          `store lease held by another live process (${blocker.why}); not resuming jobs until it is released or expires`,
        );
      }
      await this.#sleep(this.#retryMs, signal);
    }
  }

  /**
   * One attempt: null once this process holds the lease; otherwise who holds it (and why that holder
   * counts as alive), or 'race' when another process wrote it at the same moment.
   */
  async tryAcquire(signal?: AbortSignal): Promise<null | 'race' | { holder: LeaseHolder; why: string }> {
    if (this.#held) return null;
    const current = await this.#read();
    const why = current ? this.#blockedBy(current) : null;
    if (why !== null && current) return { holder: current, why };
    if (!(await this.#take(current, signal))) return 'race';
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
    return null;
  }

  /** Gives the lease back (shutdown): the next process starts at once instead of waiting for expiry. */
  async release(): Promise<void> {
    this.#stopRenewing();
    await this.#renewing?.catch(() => undefined);
    if (!this.#held) return;
    this.#held = false;
    if (this.deps.atomic) await this.deps.atomic.remove(this.#key, this.#id);
    else if ((await this.#read())?.id === this.#id) await this.deps.store.delete(this.#key);
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
    // A holder whose process is gone crashed: no need to wait out its TTL. Its pid says that only on the
    // same host and in the same PID namespace (another container may reuse both the hostname and the pid).
    const samePlace =
      current.host === this.#host &&
      this.#pidNamespace !== null &&
      (current.pidNamespace ?? null) === this.#pidNamespace;
    if (samePlace && current.pid !== this.#pid && !this.#alive(current.pid)) return null;
    if (current.host !== this.#host) return 'other host';
    return samePlace ? 'same host' : 'same host name, another PID namespace';
  }

  /** Writes our lease over `current` (judged takeable); true when we hold it afterwards. */
  async #take(current: LeaseHolder | undefined, signal?: AbortSignal): Promise<boolean> {
    const { atomic } = this.deps;
    if (atomic) return atomic.swap(this.#key, current?.id ?? null, this.#mine(), this.#ttlMs);
    // Keyv has no compare-and-set: write, wait, and see whether another writer landed after us.
    await this.deps.store.set(this.#key, this.#mine());
    await this.#sleep(this.#settleMs, signal);
    return (await this.#read())?.id === this.#id;
  }

  async #read(): Promise<LeaseHolder | undefined> {
    const value = await this.deps.store.get<LeaseHolder>(this.#key);
    return value ?? undefined;
  }

  #mine(): LeaseHolder {
    return {
      id: this.#id,
      pid: this.#pid,
      host: this.#host,
      pidNamespace: this.#pidNamespace,
      expiresAt: this.deps.clock.now() + this.#ttlMs,
    };
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
      if (this.deps.atomic) {
        if (!(await this.deps.atomic.swap(this.#key, this.#id, this.#mine(), this.#ttlMs))) this.#lost(undefined);
        return;
      }
      const current = await this.#read();
      if (current && current.id !== this.#id && current.expiresAt > this.deps.clock.now()) {
        this.#lost(current);
        return;
      }
      await this.deps.store.set(this.#key, this.#mine());
    } catch (error) {
      this.deps.logger.warn({ lease: `leases:${this.#key}`, err: error }, 'store lease renewal failed; will try again');
    }
  }

  #lost(holder: LeaseHolder | undefined): void {
    this.#held = false;
    this.#stopRenewing();
    this.deps.logger.error(
      { lease: `leases:${this.#key}`, holderPid: holder?.pid, holderHost: holder?.host },
      'store lease lost to another process; stopping',
    );
    this.deps.onLost?.();
  }
}
