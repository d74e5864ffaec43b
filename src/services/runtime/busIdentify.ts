import { randomBytes } from 'node:crypto';
import type { IIdentifyThrottler } from 'discord.js';
import { realSleep, type Sleep } from '../../lib/clock.js';
import type { Logger } from '../../logger.js';
import type { BusClient } from './bus.js';

/**
 * Discord allows one IDENTIFY per 5 s per bucket (`shard_id % max_concurrency`). The lock lives a little
 * longer: two processes send their IDENTIFY a few milliseconds after taking it, and those few
 * milliseconds must not bring two arrivals closer than 5 s.
 */
export const IDENTIFY_LOCK_MS = 5_500;

export interface IdentifyThrottleDeps {
  readonly redis: Pick<BusClient, 'set' | 'pTTL'>;
  /** `<bus base>identify:`; a bucket's lock is this plus its number. */
  readonly base: string;
  /** `session_start_limit.max_concurrency` from GET /gateway/bot. */
  readonly maxConcurrency: number;
  readonly logger: Logger;
  readonly lockMs?: number;
  readonly sleep?: Sleep;
  readonly random?: () => number;
}

/**
 * discord.js's IDENTIFY throttle (`ws.buildIdentifyThrottler`) for several processes on one Redis
 * (DESIGN §8): a shard may IDENTIFY once it takes its bucket's lock (`SET NX PX`), which nobody
 * releases; the next shard of that bucket, in whichever process, waits for it to expire.
 */
export class RedisIdentifyThrottler implements IIdentifyThrottler {
  readonly #token = randomBytes(8).toString('hex');
  readonly #lockMs: number;
  readonly #sleep: Sleep;
  readonly #random: () => number;

  constructor(private readonly deps: IdentifyThrottleDeps) {
    this.#lockMs = deps.lockMs ?? IDENTIFY_LOCK_MS;
    this.#sleep = deps.sleep ?? realSleep;
    this.#random = deps.random ?? Math.random;
  }

  async waitForIdentify(shardId: number, signal: AbortSignal): Promise<void> {
    const bucket = shardId % Math.max(1, this.deps.maxConcurrency);
    const key = `${this.deps.base}${String(bucket)}`;
    for (let failures = 0; ;) {
      signal.throwIfAborted();
      let waitMs: number;
      try {
        const taken = await this.deps.redis.set(key, `${this.#token}:${String(shardId)}`, {
          condition: 'NX',
          expiration: { type: 'PX', value: this.#lockMs },
        });
        if (taken === 'OK') return;
        waitMs = await this.deps.redis.pTTL(key);
        failures = 0;
      } catch (error) {
        if (failures++ === 0) this.deps.logger.warn({ err: error, shardId }, 'IDENTIFY lock unreachable; retrying');
        waitMs = 1_000;
      }
      // Jitter, so the shards of several processes waiting for one bucket do not all ask at the same instant.
      await this.#sleep(Math.max(20, waitMs) + Math.floor(this.#random() * 100), signal);
    }
  }
}
