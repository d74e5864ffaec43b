import { setMaxListeners } from 'node:events';
import { Routes, type REST } from 'discord.js';
import { z } from 'zod';
import type Keyv from 'keyv';
import type { Clock } from '../../lib/clock.js';
import { allShards, formatShardIds, ownsGuild, runsAllShards, type ShardSet } from '../../lib/shard.js';
import type { Logger } from '../../logger.js';
import { adoptShardLayout, currentShardLayout, type LayoutChange } from '../jobs/layout.js';
import { LeaseService, type LeaseDeps, type LeaseHolder } from './lease.js';

/** SHARD_COUNT and SHARD_IDS as configured. */
export interface ShardRequest {
  readonly count: number | 'auto';
  readonly ids: readonly number[] | 'all';
}

/**
 * Which shards this process runs (DESIGN §8): known at once from a fixed SHARD_COUNT, or at start from
 * Discord's recommendation (`auto`, which config allows only with every shard).
 */
export class ShardPlan {
  #set: ShardSet | null;

  constructor(private readonly request: ShardRequest) {
    this.#set = request.count === 'auto' ? null : ShardPlan.#setOf(request.count, request.ids);
  }

  static #setOf(count: number, ids: readonly number[] | 'all'): ShardSet {
    return ids === 'all' ? allShards(count) : Object.freeze({ ids: Object.freeze([...ids]), count });
  }

  /** The set; only after start resolved it when SHARD_COUNT is auto. */
  get set(): ShardSet {
    if (this.#set === null) throw new Error('the shard count is resolved when the bot starts (SHARD_COUNT=auto)');
    return this.#set;
  }

  /** Settles `auto` with the recommended count (our own GET /gateway/bot); a fixed count stays. */
  async resolve(recommended: () => Promise<number>): Promise<ShardSet> {
    this.#set ??= ShardPlan.#setOf(await recommended(), this.request.ids);
    return this.#set;
  }

  /** Whether this process owns the guild's jobs and ledgers (guildId null: the DMs, shard 0's). */
  owns(guildId: string | null): boolean {
    return ownsGuild(this.set, guildId);
  }

  /** How logs name the set: `0-24 of 100`. */
  describe(): string {
    const set = this.set;
    return `${formatShardIds(set.ids)} of ${String(set.count)}`;
  }
}

/** One lease per shard (`leases:<shard>`), held together: the process is the single writer of them all. */
export class ShardLeases {
  #leases: LeaseService[] = [];

  /** Each shard's lease is a LeaseService with these settings (and `onLost` told once any is lost). */
  constructor(private readonly deps: Omit<LeaseDeps, 'shard'>) {}

  /** More leases on the same store that tell nobody when lost (held for a moment: re-filing, reshard). */
  others(): ShardLeases {
    return new ShardLeases({ ...this.deps, onLost: () => undefined });
  }

  #leaseOf(shard: number): LeaseService {
    return new LeaseService({ ...this.deps, shard });
  }

  get held(): boolean {
    return this.#leases.length > 0 && this.#leases.every((lease) => lease.held);
  }

  /**
   * Takes every shard's lease, waiting while another live process holds any. In id order, so two
   * processes wanting overlapping sets never each hold a part the other waits for. Without atomic writes
   * each take pauses to read back, so after the lowest id (which every SQLite process wants, as each
   * runs every shard) the rest are taken together.
   */
  async acquire(ids: readonly number[], signal?: AbortSignal): Promise<void> {
    const leases = [...ids].sort((a, b) => a - b).map((id) => this.#leaseOf(id));
    this.#leases.push(...leases);
    const [first, ...rest] = leases;
    if (!first) return;
    await first.acquire(signal);
    if (this.deps.atomic) for (const lease of rest) await lease.acquire(signal);
    else {
      // Each waiting lease listens on the signal: dozens of shards are not a leak.
      if (signal) setMaxListeners(rest.length + 10, signal);
      await Promise.all(rest.map((lease) => lease.acquire(signal)));
    }
  }

  /** One attempt at each, in id order, for `npm run reshard`: the first live holder found, or null when all are ours. */
  async tryAcquire(ids: readonly number[]): Promise<{ shard: number; holder: LeaseHolder | null } | null> {
    for (const id of [...ids].sort((a, b) => a - b)) {
      const lease = this.#leaseOf(id);
      this.#leases.push(lease);
      const blocker = await lease.tryAcquire();
      if (blocker !== null) return { shard: id, holder: blocker === 'race' ? null : blocker.holder };
    }
    return null;
  }

  async release(): Promise<void> {
    const leases = this.#leases.splice(0);
    await Promise.all(leases.map((lease) => lease.release()));
  }

  /** Stops renewing without touching the store (the store may already be closed). */
  stop(): void {
    for (const lease of this.#leases) lease.stop();
  }
}

export interface LayoutDeps {
  /** The `jobs` namespace. */
  readonly store: Keyv;
  readonly clock: Clock;
  readonly logger: Logger;
  /** This process's leases; `others()` takes an old, larger count's extra shards while re-filing. */
  readonly leases: ShardLeases;
}

/**
 * At start, holding this process's leases: the job indexes must be filed for its SHARD_COUNT. A process
 * running every shard re-files them itself (taking the leases of a larger old count's extra shards
 * first); any other process only records the count on a store with no job in flight, and otherwise
 * refuses to start until `npm run reshard` has run (LayoutMismatchError).
 */
export async function settleShardLayout(
  set: ShardSet,
  deps: LayoutDeps,
  signal?: AbortSignal,
): Promise<LayoutChange | null> {
  const from = await currentShardLayout(deps.store);
  if (from === set.count) return null;
  if (!runsAllShards(set)) return adoptShardLayout(deps.store, set.count, deps.clock, deps.logger, false);
  const extra = deps.leases.others();
  try {
    await extra.acquire(
      Array.from({ length: Math.max(0, from - set.count) }, (_, i) => set.count + i),
      signal,
    );
    return await adoptShardLayout(deps.store, set.count, deps.clock, deps.logger);
  } finally {
    await extra.release();
  }
}

/** `npm run reshard` found a shard of the old or new count held by a live process. */
export class ReshardRefusedError extends Error {
  constructor(
    readonly shard: number,
    readonly holder: LeaseHolder | null,
  ) {
    super(
      `shard ${String(shard)} is held by a running process (${holder ? `pid ${String(holder.pid)} on ${holder.host}` : 'it took the lease just now'}): ` +
        'stop every process of the bot before re-filing',
    );
    this.name = 'ReshardRefusedError';
  }
}

/**
 * `npm run reshard`: re-files the job indexes for `count` while no process runs. It takes the lease of
 * every shard of both counts (refusing at once if a live process holds one), moves the indexes, and
 * gives the leases back.
 */
export async function reshard(count: number, deps: LayoutDeps): Promise<LayoutChange | null> {
  const from = await currentShardLayout(deps.store);
  try {
    const blocked = await deps.leases.tryAcquire(Array.from({ length: Math.max(from, count) }, (_, id) => id));
    if (blocked) throw new ReshardRefusedError(blocked.shard, blocked.holder);
    return await adoptShardLayout(deps.store, count, deps.clock, deps.logger);
  } finally {
    await deps.leases.release();
  }
}

const gatewayBotSchema = z.looseObject({ shards: z.number().int().min(1).max(4096) });

/**
 * Discord's recommended shard count, from our own GET /gateway/bot through discord.js's REST client (so
 * DISCORD_API_BASE_URL is honoured: discord.js's own `auto` for a sharding manager asks discord.com).
 */
export async function recommendedShardCount(rest: Pick<REST, 'get'>): Promise<number> {
  const parsed = gatewayBotSchema.safeParse(await rest.get(Routes.gatewayBot()));
  if (!parsed.success) throw new Error('GET /gateway/bot gave no usable shard count');
  return parsed.data.shards;
}
