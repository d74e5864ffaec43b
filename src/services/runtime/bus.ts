import { createHash } from 'node:crypto';
import { isJobId } from '../../lib/jobId.js';
import { withDeadline } from '../../lib/deadline.js';
import type { Rate } from '../../lib/rate.js';
import type { Logger } from '../../logger.js';
import { SharedGenerateLimiter } from './busLimiter.js';
import { RedisIdentifyThrottler } from './busIdentify.js';
import { TASK_ID_PATTERN, type CallbackHint } from './http.js';

/** The node-redis calls the bus makes (the client the store opens for it; see Stores.redis). */
export interface BusClient {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  set(
    key: string,
    value: string,
    options: { condition: 'NX'; expiration: { type: 'PX'; value: number } },
  ): Promise<unknown>;
  pTTL(key: string): Promise<number>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  close(): Promise<void>;
}

/** Opens one more connection to the store's Redis, connected (errors go to `onError`, never thrown). */
export type BusConnector = (onError: (error: Error) => void) => Promise<BusClient>;

export interface BusDeps {
  readonly connect: BusConnector;
  /** STORE_KEY_PREFIX ('' for none): the bus's keys and channels are `<prefix>:bus:…`, beside the store's. */
  readonly prefix: string;
  /** STORE_TIMEOUT_MS: node-redis never gives up a command written to a stalled Redis. */
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/** A short, stable name for a secret (a kie API key) that keys may carry; the secret itself never. */
export function keyName(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 16);
}

/**
 * What the processes of one bot share through Redis, and nothing else (DESIGN §8): the generate limiter,
 * kie callbacks for another process's shard, and the IDENTIFY throttle. One connection for commands and
 * one for subscriptions (a subscribed Redis connection runs nothing else); node-redis subscribes again
 * after a reconnection.
 */
export class RedisBus {
  readonly base: string;
  #commands: BusClient | null = null;
  #subscriber: BusClient | null = null;
  #opening: Promise<void> | null = null;
  #lastError = 0;

  constructor(private readonly deps: BusDeps) {
    this.base = deps.prefix === '' ? 'bus:' : `${deps.prefix}:bus:`;
  }

  /** Connects both connections; called once at start, before anything is sent. */
  open(): Promise<void> {
    this.#opening ??= (async () => {
      const onError = (error: Error) => this.#onError(error);
      this.#commands = await this.deps.connect(onError);
      this.#subscriber = await this.deps.connect(onError);
    })();
    return this.#opening;
  }

  /** The command connection, each call bounded by STORE_TIMEOUT_MS. */
  get redis(): Pick<BusClient, 'eval' | 'publish' | 'set' | 'pTTL'> {
    const client = () => {
      if (!this.#commands) throw new Error('the Redis bus is not open yet');
      return this.#commands;
    };
    const ms = this.deps.timeoutMs;
    return {
      eval: (script, options) => withDeadline(client().eval(script, options), ms),
      publish: (channel, message) => withDeadline(client().publish(channel, message), ms),
      set: (key, value, options) => withDeadline(client().set(key, value, options), ms),
      pTTL: (key) => withDeadline(client().pTTL(key), ms),
    };
  }

  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    await this.open();
    await withDeadline(this.#subscriber?.subscribe(channel, listener) ?? Promise.resolve(), this.deps.timeoutMs);
  }

  async close(): Promise<void> {
    const clients = [this.#subscriber, this.#commands].filter((c): c is BusClient => c !== null);
    this.#subscriber = null;
    this.#commands = null;
    this.#opening = null;
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }

  /** The generate limiter of one kie account (its key), shared by every process on this Redis. */
  generateLimiter(rate: Rate, kieApiKey: string): SharedGenerateLimiter {
    return new SharedGenerateLimiter({
      ...rate,
      redis: this.redis,
      subscribe: (channel, listener) => this.subscribe(channel, listener),
      base: `${this.base}limiter:${keyName(kieApiKey)}:`,
      logger: this.deps.logger,
    });
  }

  /** discord.js's IDENTIFY throttle across processes (`ws.buildIdentifyThrottler`). */
  identifyThrottler(maxConcurrency: number): RedisIdentifyThrottler {
    return new RedisIdentifyThrottler({
      redis: this.redis,
      base: `${this.base}identify:`,
      maxConcurrency,
      logger: this.deps.logger,
    });
  }

  /** Hands a verified callback to whichever process runs `shard`; false when none listens (polling covers it). */
  async forwardCallback(shard: number, hint: CallbackHint): Promise<boolean> {
    return (await this.redis.publish(this.#callbackChannel(shard), JSON.stringify(hint))) > 0;
  }

  /** Callbacks other processes verified for these shards' jobs. */
  async onCallbacks(shards: readonly number[], handle: (hint: CallbackHint) => void): Promise<void> {
    for (const shard of shards) {
      await this.subscribe(this.#callbackChannel(shard), (message) => {
        const hint = parseHint(message);
        if (hint) handle(hint);
        else this.deps.logger.warn({ shard }, 'ignored a malformed callback message on the Redis bus');
      });
    }
  }

  #callbackChannel(shard: number): string {
    return `${this.base}callbacks:${String(shard)}`;
  }

  #onError(error: Error): void {
    // node-redis reports every failed reconnection attempt: one line per 30 s says enough.
    const now = Date.now();
    if (now - this.#lastError < 30_000) return;
    this.#lastError = now;
    this.deps.logger.warn({ err: error }, 'Redis bus connection error; node-redis reconnects');
  }
}

function parseHint(message: string): CallbackHint | null {
  let value: unknown;
  try {
    value = JSON.parse(message) as unknown;
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { taskId, jobId } = value as { taskId?: unknown; jobId?: unknown };
  if (typeof taskId !== 'string' || !TASK_ID_PATTERN.test(taskId)) return null;
  if (jobId !== null && (typeof jobId !== 'string' || !isJobId(jobId))) return null;
  return { taskId, jobId };
}
