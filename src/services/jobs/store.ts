import type Keyv from 'keyv';
import type { Clock } from '../../lib/clock.js';
import { KeyedLock } from '../../lib/keyedLock.js';
import { shardKey, shardOfGuild, SINGLE_SHARD, type ShardSet } from '../../lib/shard.js';
import { FINAL_RECORD_TTL_MS, isSettled, upgradeOf, type JobRecord, type UpgradeName } from './record.js';

/** With several shards each has its own (`index:active:<shard>`): see shardKey. */
export const ACTIVE_INDEX = 'index:active';
export const HD_INDEX = 'index:hd';
export const UHD_INDEX = 'index:uhd';
/** The jobs whose upgrade of each kind is being prepared, so a restart resumes them without a scan. */
export const UPGRADE_INDEXES: Readonly<Record<UpgradeName, string>> = { '1080p': HD_INDEX, '4k': UHD_INDEX };

/** True while an upgrade of the job is being prepared (it must finish, and settle what it charged). */
export function upgradePreparing(job: JobRecord, name: UpgradeName): boolean {
  return upgradeOf(job, name)?.state === 'preparing';
}

const UPGRADES: readonly UpgradeName[] = ['1080p', '4k'];
/** Past this many ids a member's index drops the ids whose records have expired. */
const MEMBER_INDEX_PRUNE_AT = 100;
const DAY_MS = 24 * 60 * 60_000;

/** taskId -> jobId, so a kie callback finds its job without a scan. */
function taskKey(taskId: string): string {
  return `task:${taskId}`;
}

/** An update named a job the store does not hold (never created, or expired or forgotten since). */
export class MissingJobError extends Error {
  constructor(readonly jobId: string) {
    super(`no job record ${jobId}`);
    this.name = 'MissingJobError';
  }
}

/** Told about every write, for metrics; must not throw. */
export type JobObserver = (previous: JobRecord | null, next: JobRecord) => void;

// Per server (or DM) and member, so `/veo-admin forget` in one server touches nothing of another.
function memberIndex(guildId: string | null, userId: string): string {
  return `index:member:${guildId ?? 'dm'}:${userId}`;
}

/** Job records in Keyv (namespace `jobs`), with an index of the ones still moving so resume never scans. */
export class JobStore {
  readonly #lock = new KeyedLock();

  constructor(
    private readonly store: Keyv,
    private readonly clock: Clock,
    private readonly observer?: JobObserver,
    /**
     * The shards this process runs (known once start has resolved SHARD_COUNT): with several, a job is
     * indexed under the shard that owns its guild (DMs: shard 0), and this process lists those of its own.
     */
    private readonly shards: () => ShardSet = () => SINGLE_SHARD,
  ) {}

  /** The index that lists a job of this guild: its owning shard's. */
  #indexOf(base: string, guildId: string | null): string {
    const { count } = this.shards();
    return shardKey(base, shardOfGuild(guildId, count), count);
  }

  /** The indexes of every shard this process runs. */
  #ownIndexes(base: string): string[] {
    const { ids, count } = this.shards();
    return ids.map((id) => shardKey(base, id, count));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return (await this.store.get<JobRecord>(id)) ?? undefined;
  }

  /** The job that owns a kie task, if any. */
  async jobIdForTask(taskId: string): Promise<string | undefined> {
    return (await this.store.get<string>(taskKey(taskId))) ?? undefined;
  }

  async create(job: JobRecord): Promise<void> {
    await this.#lock.run(job.id, async () => {
      if (job.taskId) await this.store.set(taskKey(job.taskId), job.id, FINAL_RECORD_TTL_MS + 2 * DAY_MS);
      await this.store.set(job.id, job);
      this.observer?.(null, job);
      await this.#index(this.#indexOf(ACTIVE_INDEX, job.guildId), job.id, true);
      await this.#index(memberIndex(job.guildId, job.requesterId), job.id, true);
    });
  }

  /** A member's jobs in one server (guildId null: in DMs), oldest first; expired records are left out. */
  async ofMember(guildId: string | null, userId: string): Promise<JobRecord[]> {
    return this.#listIndex(memberIndex(guildId, userId));
  }

  /**
   * Deletes a member's finished job records in one server (`/veo-admin forget`). Jobs still running (or
   * still being polled late, or preparing 1080P) are kept so they can finish and settle their quota.
   */
  async forgetMember(guildId: string | null, userId: string): Promise<{ deleted: number; kept: number }> {
    const name = memberIndex(guildId, userId);
    const ids = (await this.store.get<string[]>(name)) ?? [];
    const gone = new Set<string>();
    let deleted = 0;
    for (const id of ids) {
      await this.#lock.run(id, async () => {
        const job = await this.get(id);
        if (job && (!isSettled(job, this.clock.now()) || UPGRADES.some((u) => upgradePreparing(job, u)))) return;
        if (job) {
          await this.store.delete(id);
          deleted++;
        }
        gone.add(id);
      });
    }
    // Taken after the job locks, never around them: create takes a job lock, then this one.
    const kept = await this.#lock.run(name, async () => {
      const left = ((await this.store.get<string[]>(name)) ?? []).filter((id) => !gone.has(id));
      if (left.length === 0) await this.store.delete(name);
      else await this.store.set(name, left);
      return left.length;
    });
    return { deleted, kept };
  }

  async update(id: string, change: (job: JobRecord) => JobRecord): Promise<JobRecord> {
    return this.#lock.run(id, async () => {
      const current = await this.get(id);
      if (!current) throw new MissingJobError(id);
      const now = this.clock.now();
      const next: JobRecord = { ...change(current), updatedAt: now };
      const done = isSettled(next, now);
      // Written before the record, so a task id on record always resolves back to its job.
      if (next.taskId && next.taskId !== current.taskId)
        await this.store.set(taskKey(next.taskId), id, FINAL_RECORD_TTL_MS + 2 * DAY_MS);
      await this.store.set(id, next, done ? FINAL_RECORD_TTL_MS : undefined);
      this.observer?.(current, next);
      if (done !== isSettled(current, now) || done)
        await this.#index(this.#indexOf(ACTIVE_INDEX, next.guildId), id, !done);
      for (const name of UPGRADES) {
        const preparing = upgradePreparing(next, name);
        if (preparing !== upgradePreparing(current, name))
          await this.#index(this.#indexOf(UPGRADE_INDEXES[name], next.guildId), id, preparing);
      }
      return next;
    });
  }

  /** Jobs still moving (this process's shards'), oldest first: the order resume re-queues them in. */
  async active(): Promise<JobRecord[]> {
    return this.#listIndex(...this.#ownIndexes(ACTIVE_INDEX));
  }

  /** Jobs (this process's shards') whose upgrade of this kind is being prepared. */
  async upgradesPreparing(name: UpgradeName): Promise<JobRecord[]> {
    return this.#listIndex(...this.#ownIndexes(UPGRADE_INDEXES[name]));
  }

  async #listIndex(...names: string[]): Promise<JobRecord[]> {
    const lists = await this.store.getMany<string[]>(names);
    const ids = lists.flatMap((list) => list ?? []);
    if (ids.length === 0) return [];
    const records = await this.store.getMany<JobRecord>(ids);
    return records
      .filter((r): r is JobRecord => r !== undefined && r !== null)
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  async #index(name: string, id: string, present: boolean): Promise<void> {
    await this.#lock.run(name, async () => {
      let ids = (await this.store.get<string[]>(name)) ?? [];
      const has = ids.includes(id);
      if (present === has) return;
      // Member indexes have no other cleanup: ids of records that expired (15 days) are dropped here.
      if (present && ids.length >= MEMBER_INDEX_PRUNE_AT && name.startsWith('index:member:')) {
        const records = await this.store.getMany<JobRecord>(ids);
        ids = ids.filter((_, i) => records[i] !== undefined && records[i] !== null);
      }
      await this.store.set(name, present ? [...ids, id] : ids.filter((x) => x !== id));
    });
  }
}
