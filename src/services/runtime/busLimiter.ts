import { randomBytes } from 'node:crypto';
import type { Rate } from '../../lib/rate.js';
import type { Logger } from '../../logger.js';
import { LimiterCancelledError } from '../jobs/limiter.js';
import type { LimiterPort } from '../jobs/ports.js';
import type { BusClient } from './bus.js';

/**
 * One call does everything, atomically, on Redis time: drop cancelled waiters, queue new ones, grant as
 * many waiters as the sliding log of grants allows, and return this process's grants, the wait until a
 * slot frees, and the serving order. Keys hang off one base (per kie key): on one Redis, not a Cluster.
 *
 * The order is the fair queue's (DESIGN §8) across every process: a waiter's score is its round, and
 * equal rounds go in arrival order (the zero-padded sequence number leads the member). A server's next
 * waiter takes the round after the server's last one (`rounds`, pruned once served past); a server
 * with none in this round joins it, after the waiters already in it. So each round serves one job per
 * server, first come first served inside a server. A waiter whose process stopped renewing `alive:<owner>` is dropped when it
 * reaches the front instead of holding a slot nobody would use.
 *
 * ARGV: base, owner, limit, windowMs, aliveMs, maxOrder, cancels…, '|', (id, bucket)…
 */
const SYNC = `
local base, owner = ARGV[1], ARGV[2]
local limit, windowMs, aliveMs, maxOrder = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local queue, waiters, rounds = base .. 'queue', base .. 'waiters', base .. 'rounds'
local roundKey, window = base .. 'round', base .. 'window'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', base .. 'alive:' .. owner, '1', 'PX', aliveMs)
local changed = false
local function leave(id, w)
  redis.call('ZREM', queue, w.m)
  redis.call('HDEL', waiters, id)
end
local i = 7
while ARGV[i] ~= '|' do
  local raw = redis.call('HGET', waiters, ARGV[i])
  if raw then
    local w = cjson.decode(raw)
    if w.o == owner then leave(ARGV[i], w); changed = true end
  end
  i = i + 1
end
i = i + 1
while ARGV[i] do
  local id, bucket = ARGV[i], ARGV[i + 1]
  if redis.call('HEXISTS', waiters, id) == 0 then
    local round = tonumber(redis.call('GET', roundKey) or '0')
    local last = redis.call('ZSCORE', rounds, bucket)
    if last then round = math.max(round, tonumber(last) + 1) end
    local member = string.format('%016d', redis.call('INCR', base .. 'seq')) .. ':' .. id
    redis.call('ZADD', queue, round, member)
    redis.call('ZADD', rounds, round, bucket)
    redis.call('HSET', waiters, id, cjson.encode({ m = member, o = owner }))
    changed = true
  end
  i = i + 2
end
redis.call('ZREMRANGEBYSCORE', window, '-inf', now - windowMs)
while redis.call('ZCARD', window) < limit do
  local head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
  if #head == 0 then break end
  local id = string.sub(head[1], 18)
  local raw = redis.call('HGET', waiters, id)
  if raw then
    local w = cjson.decode(raw)
    leave(id, w)
    if redis.call('EXISTS', base .. 'alive:' .. w.o) == 1 then
      redis.call('SET', roundKey, head[2])
      redis.call('ZREMRANGEBYSCORE', rounds, '-inf', '(' .. head[2])
      redis.call('ZADD', window, now, head[1])
      redis.call('PEXPIRE', window, windowMs)
      redis.call('RPUSH', base .. 'granted:' .. w.o, id)
      redis.call('PEXPIRE', base .. 'granted:' .. w.o, 60000)
    end
  else
    redis.call('ZREM', queue, head[1])
  end
  changed = true
end
local mine = redis.call('LRANGE', base .. 'granted:' .. owner, 0, -1)
redis.call('DEL', base .. 'granted:' .. owner)
local wait = -1
if redis.call('ZCARD', queue) > 0 then
  local oldest = redis.call('ZRANGE', window, 0, 0, 'WITHSCORES')
  wait = 0
  if #oldest > 0 then wait = tonumber(oldest[2]) + windowMs - now + 1 end
end
if changed then redis.call('PUBLISH', base .. 'changed', owner) end
return { wait, mine, redis.call('ZRANGE', queue, 0, maxOrder - 1) }
`;

/** Length of the zero-padded sequence and its colon before a waiter id in a queue member. */
const MEMBER_ID_OFFSET = 17;

interface Waiter {
  readonly bucket: string;
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
  readonly detach: () => void;
  /** Redis has it (a sync that carried it answered); only then can it be missed. */
  queued: boolean;
}

export interface SharedLimiterDeps extends Rate {
  readonly redis: Pick<BusClient, 'eval'>;
  readonly subscribe: (channel: string, listener: (message: string) => void) => Promise<void>;
  /** Key base of this kie key's queue: `<bus base>limiter:<keyName(KIE_API_KEY)>:`. */
  readonly base: string;
  readonly logger: Logger;
  /** A waiter whose process renewed nothing for this long is dropped at the front (5 s). */
  readonly aliveMs?: number;
  /** With waiters, this process syncs at least this often (1 s): the backstop for a lost message. */
  readonly tickMs?: number;
  /** Positions are shown for the first this many waiters (2,000). */
  readonly maxOrder?: number;
}

/**
 * The generate limiter shared by every process on one Redis (DESIGN §8): one sliding-log window per kie
 * key, FIFO within a server and round-robin across servers over all processes, with global positions.
 * Any process with waiters drives it (when a slot frees, and on every change another process
 * publishes); grants for another process's waiters are left in its list and announced. Same contract as
 * the in-process GenerateLimiter.
 */
export class SharedGenerateLimiter implements LimiterPort {
  readonly #owner = randomBytes(8).toString('hex');
  readonly #waiters = new Map<string, Waiter>();
  /** Ids to queue (with their bucket) and to drop, sent with the next sync. */
  readonly #enqueue = new Map<string, string>();
  readonly #cancel = new Set<string>();
  #positions = new Map<string, number>();
  readonly #listeners = new Set<() => void>();
  #syncing: Promise<void> | null = null;
  #again = false;
  #wake: NodeJS.Timeout | undefined;
  #tick: NodeJS.Timeout | undefined;
  #failing = false;
  #stopped = false;
  readonly #aliveMs: number;
  readonly #tickMs: number;
  readonly #maxOrder: number;

  constructor(private readonly deps: SharedLimiterDeps) {
    this.#aliveMs = deps.aliveMs ?? 5_000;
    this.#tickMs = deps.tickMs ?? 1_000;
    this.#maxOrder = deps.maxOrder ?? 2_000;
  }

  /** Listens for other processes' changes (a grant for one of ours, a queue that moved). */
  async start(): Promise<void> {
    await this.deps.subscribe(`${this.deps.base}changed`, (from) => {
      if (from !== this.#owner && this.#waiters.size > 0) void this.#sync();
    });
  }

  get waiting(): number {
    return this.#waiters.size;
  }

  position(id: string): number | null {
    return this.#positions.get(id) ?? null;
  }

  acquire(id: string, signal?: AbortSignal, bucket = ''): Promise<void> {
    if (this.#stopped) return Promise.reject(new LimiterCancelledError(id));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.#waiters.has(id)) return Promise.reject(new Error(`${id} is already waiting for a generate slot`));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        if (this.#remove(id)) reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const detach = () => signal?.removeEventListener('abort', onAbort);
      this.#waiters.set(id, { bucket, resolve, reject, detach, queued: false });
      this.#enqueue.set(id, bucket);
      this.#tick ??= setInterval(() => void this.#sync(), this.#tickMs).unref();
      void this.#sync();
    });
  }

  onQueueChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  cancel(id: string): void {
    this.#remove(id)?.reject(new LimiterCancelledError(id));
  }

  /** Rejects every waiter and takes them out of the shared queue (best effort: dead ones are dropped anyway). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const [id, waiter] of [...this.#waiters]) {
      this.#remove(id);
      waiter.reject(new LimiterCancelledError(id));
    }
    // The sync in flight may predate the removals: wait it out, then send what is left.
    while (this.#syncing) await this.#syncing;
    await this.#sync();
    this.#idle();
  }

  #remove(id: string): Waiter | undefined {
    const waiter = this.#waiters.get(id);
    if (!waiter) return undefined;
    this.#waiters.delete(id);
    waiter.detach();
    // Not sent yet: nothing to take back. Sent (or on its way): the next sync drops it.
    if (!this.#enqueue.delete(id)) this.#cancel.add(id);
    this.#positions.delete(id);
    if (this.#waiters.size === 0) this.#idle();
    this.#notify();
    void this.#sync();
    return waiter;
  }

  #idle(): void {
    clearInterval(this.#tick);
    this.#tick = undefined;
    clearTimeout(this.#wake);
    this.#wake = undefined;
  }

  /** One script call at a time; a change meanwhile is carried by one more right after. */
  #sync(): Promise<void> {
    if (this.#syncing) {
      this.#again = true;
      return this.#syncing;
    }
    if (this.#waiters.size === 0 && this.#enqueue.size === 0 && this.#cancel.size === 0) return Promise.resolve();
    this.#syncing = this.#run().finally(() => {
      this.#syncing = null;
      if (this.#again) {
        this.#again = false;
        void this.#sync();
      }
    });
    return this.#syncing;
  }

  async #run(): Promise<void> {
    const enqueue = [...this.#enqueue];
    const cancel = [...this.#cancel];
    this.#enqueue.clear();
    this.#cancel.clear();
    let reply: unknown;
    try {
      reply = await this.deps.redis.eval(SYNC, {
        keys: [],
        arguments: [
          this.deps.base,
          this.#owner,
          String(this.deps.limit),
          String(this.deps.windowMs),
          String(this.#aliveMs),
          String(this.#maxOrder),
          ...cancel,
          '|',
          ...enqueue.flat(),
        ],
      });
    } catch (error) {
      // Put back what was not sent; the tick tries again.
      for (const [id, bucket] of enqueue) if (this.#waiters.has(id)) this.#enqueue.set(id, bucket);
      for (const id of cancel) this.#cancel.add(id);
      if (!this.#failing) this.deps.logger.warn({ err: error }, 'shared generate queue unreachable; retrying');
      this.#failing = true;
      return;
    }
    if (this.#failing) this.deps.logger.info({}, 'shared generate queue reachable again');
    this.#failing = false;
    for (const [id] of enqueue) {
      const waiter = this.#waiters.get(id);
      if (waiter) waiter.queued = true;
      else this.#cancel.add(id);
    }
    this.#apply(parseReply(reply));
  }

  #apply({ wait, granted, order }: SyncReply): void {
    let moved = false;
    for (const id of granted) {
      const waiter = this.#waiters.get(id);
      if (!waiter) continue;
      this.#waiters.delete(id);
      waiter.detach();
      waiter.resolve();
      // Like the in-process limiter: a job granted before it was ever shown a place changes no status.
      if (this.#positions.has(id)) moved = true;
    }
    const positions = new Map<string, number>();
    order.forEach((member, index) => {
      const id = member.slice(MEMBER_ID_OFFSET);
      if (this.#waiters.has(id)) positions.set(id, index + 1);
    });
    // Queued, not granted, not in the order: another process judged us gone (a long stall). Queue again.
    if (order.length < this.#maxOrder) {
      for (const [id, waiter] of this.#waiters) {
        if (!waiter.queued || positions.has(id) || this.#enqueue.has(id)) continue;
        waiter.queued = false;
        this.#enqueue.set(id, waiter.bucket);
        this.#again = true;
      }
    }
    if (moved || !samePositions(this.#positions, positions)) {
      this.#positions = positions;
      this.#notify();
    }
    if (this.#waiters.size === 0) return this.#idle();
    clearTimeout(this.#wake);
    this.#wake = wait >= 0 ? setTimeout(() => void this.#sync(), wait).unref() : undefined;
  }

  #notify(): void {
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.deps.logger.warn({ err: error }, 'generate limiter queue listener threw');
      }
    }
  }
}

interface SyncReply {
  readonly wait: number;
  readonly granted: readonly string[];
  readonly order: readonly string[];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function parseReply(reply: unknown): SyncReply {
  const [wait, granted, order] = Array.isArray(reply) ? (reply as unknown[]) : [];
  return { wait: typeof wait === 'number' ? wait : -1, granted: strings(granted), order: strings(order) };
}

function samePositions(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, position] of a) if (b.get(id) !== position) return false;
  return true;
}
