import type Keyv from 'keyv';
import { z } from 'zod';
import { KeyedLock } from '../../lib/keyedLock.js';
import { silentLogger, type Logger } from '../../logger.js';
import { byModel, VEO_MODEL_IDS } from '../../lib/models.js';
import { FILTER_ENTRY_MAX, FILTER_MAX_ENTRIES } from '../../lib/wordFilter.js';
import type { GuildQuotaSettings } from './limits.js';

/** Text kie burns into a server's videos (`/veo-admin watermark`, DESIGN §1.8); kie documents no limit of its own. */
export const WATERMARK_MAX = 30;

/** What is wrong with a watermark, or null: one line of 1 to WATERMARK_MAX characters (counted as Discord does, by code point). */
export function watermarkProblem(text: string): { reason: 'too_long' | 'one_line'; length: number } | null {
  const length = Array.from(text).length;
  if (length > WATERMARK_MAX) return { reason: 'too_long', length };
  if (length === 0 || /\p{Cc}/u.test(text)) return { reason: 'one_line', length };
  return null;
}

const whole = z.number().int().min(1);
const settingsSchema = z.object({
  limit: whole.exactOptional(),
  windowHours: whole.exactOptional(),
  costs: z.object(byModel(() => whole.exactOptional())).exactOptional(),
  maxActiveJobs: whole.exactOptional(),
  blocked: z.array(z.string()).exactOptional(),
  budget: whole.nullable().exactOptional(),
  // zod counts UTF-16 units; an entry is at most FILTER_ENTRY_MAX code points.
  filter: z
    .array(
      z
        .string()
        .min(1)
        .max(FILTER_ENTRY_MAX * 2),
    )
    .max(FILTER_MAX_ENTRIES)
    .exactOptional(),
  watermark: z
    .string()
    .refine((text) => watermarkProblem(text) === null)
    .exactOptional(),
  logChannel: z.object({ channelId: z.string().regex(/^\d{1,20}$/), locale: z.string() }).exactOptional(),
});

/** Where `/veo-admin log-channel` mirrors the server's jobs, and in which language (the server's). */
export interface LogChannel {
  readonly channelId: string;
  readonly locale: string;
}

/** Everything a server admin set: the quota overrides, the prompt filter (DESIGN §1.8), the log channel, the watermark. */
export interface GuildSettings extends GuildQuotaSettings {
  filter?: readonly string[];
  logChannel?: LogChannel;
  watermark?: string;
}

/** What `/veo-admin limits` changes: absent keys stay; `defaults` first drops every limit override. */
export type LimitsChange = Pick<GuildQuotaSettings, 'limit' | 'windowHours' | 'costs' | 'maxActiveJobs'> & {
  defaults?: boolean;
};

/** A proposed change is stored only when this says yes; it sees the settings as they would be. */
export type Accept = (next: GuildSettings) => boolean;

/** `ok` false: refused by `accept`, and `settings` are the unchanged ones. */
export interface ChangeResult {
  ok: boolean;
  settings: GuildSettings;
}

/** Past this many servers the least recently stored settings are read from the store again. */
const SETTINGS_CACHE_SIZE = 10_000;

/**
 * One server's settings in Keyv namespace `guilds` (key = guild id). Only what an admin changed is stored,
 * so everything else follows the environment defaults, even when those change later.
 *
 * This process is the only writer of its servers' settings (it owns their shards, DESIGN §8), so what it
 * last read or wrote is what the store holds: every job reads them several times before its
 * acknowledgement, inside the server's quota lock too, and a store round trip each time queued a
 * burst's acknowledgements behind one another.
 */
export class GuildSettingsStore {
  readonly #store: Keyv;
  readonly #logger: Logger;
  readonly #lock = new KeyedLock();
  readonly #cache = new Map<string, GuildSettings>();
  /** Moves before and after every write, so a read that overlapped one never caches what it saw. */
  #writes = 0;

  /** `store` is a Keyv on namespace `guilds` with its own adapter, created with `throwOnErrors: true`. */
  constructor(store: Keyv, logger: Logger = silentLogger) {
    this.#store = store;
    this.#logger = logger;
  }

  /** A copy: callers may change what they get without touching the cache. */
  async get(guildId: string): Promise<GuildSettings> {
    const cached = this.#cache.get(guildId);
    if (cached) return structuredClone(cached);
    const writes = this.#writes;
    const settings = await this.#read(guildId);
    if (writes === this.#writes) this.#remember(guildId, settings);
    return structuredClone(settings);
  }

  async #read(guildId: string): Promise<GuildSettings> {
    const raw: unknown = await this.#store.get(guildId);
    if (raw === undefined || raw === null) return {};
    const parsed = settingsSchema.safeParse(raw);
    if (parsed.success) return parsed.data;
    // A damaged value must not stop a server from working; the defaults apply until an admin sets it again.
    this.#logger.error({ guildId }, 'guild settings unreadable; using the defaults');
    return {};
  }

  #remember(guildId: string, settings: GuildSettings): void {
    this.#cache.delete(guildId);
    this.#cache.set(guildId, settings);
    if (this.#cache.size > SETTINGS_CACHE_SIZE) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
  }

  changeLimits(guildId: string, change: LimitsChange, accept: Accept = () => true): Promise<ChangeResult> {
    return this.#update(guildId, (s) => applyLimits(s, change), accept);
  }

  /** A cap in units over a rolling 24 h; null or 0 removes it. */
  setBudget(guildId: string, units: number | null, accept: Accept = () => true): Promise<ChangeResult> {
    return this.#update(
      guildId,
      (s) => {
        const next = { ...s };
        if (units === null || units <= 0) delete next.budget;
        else next.budget = units;
        return next;
      },
      accept,
    );
  }

  /** Checked by the caller (one line, at most WATERMARK_MAX characters); null removes it. */
  setWatermark(guildId: string, text: string | null): Promise<ChangeResult> {
    return this.#update(
      guildId,
      (s) => {
        const next = { ...s };
        if (text === null) delete next.watermark;
        else next.watermark = text;
        return next;
      },
      () => true,
    );
  }

  /** True when this call changed the list. */
  async setBlocked(guildId: string, userId: string, blocked: boolean): Promise<boolean> {
    let changed = false;
    await this.#update(
      guildId,
      (s) => {
        const list = s.blocked ?? [];
        changed = list.includes(userId) !== blocked;
        return changed ? { ...s, blocked: blocked ? [...list, userId] : list.filter((id) => id !== userId) } : s;
      },
      () => true,
    );
    return changed;
  }

  /** Stores what `change` makes of the filter list; null from it leaves the settings as they are. */
  async changeFilter(guildId: string, change: (entries: readonly string[]) => readonly string[] | null): Promise<void> {
    await this.#update(
      guildId,
      (s) => {
        const entries = change(s.filter ?? []);
        return entries === null ? s : { ...s, filter: entries };
      },
      () => true,
    );
  }

  /** null turns the mirror off. */
  async setLogChannel(guildId: string, channel: LogChannel | null): Promise<void> {
    await this.#update(
      guildId,
      (s) => {
        const next = { ...s };
        if (channel === null) delete next.logChannel;
        else next.logChannel = channel;
        return next;
      },
      () => true,
    );
  }

  // Admin commands of one server may arrive together; each change is a read-modify-write of one value.
  #update(guildId: string, change: (s: GuildSettings) => GuildSettings, accept: Accept): Promise<ChangeResult> {
    return this.#lock.run(guildId, async () => {
      const current = await this.get(guildId);
      const next = compact(change(current));
      if (!accept(next)) return { ok: false, settings: current };
      // A write that fails (or times out and lands later) leaves nothing cached: the next read asks the store.
      this.#cache.delete(guildId);
      this.#writes++;
      try {
        if (Object.keys(next).length === 0) await this.#store.delete(guildId);
        else if (!(await this.#store.set(guildId, next))) throw new Error('guild settings write failed');
      } finally {
        this.#writes++;
      }
      this.#remember(guildId, structuredClone(next));
      return { ok: true, settings: next };
    });
  }
}

/** `defaults` drops the limit overrides only: the block list, budget, filter and log channel stay. */
export function applyLimits<S extends GuildQuotaSettings>(s: S, change: LimitsChange): S {
  const next: S = { ...s };
  if (change.defaults) {
    // Only the limits go back to the defaults; blocks, the budget and the community controls stay.
    delete next.limit;
    delete next.windowHours;
    delete next.costs;
    delete next.maxActiveJobs;
  }
  if (change.limit !== undefined) next.limit = change.limit;
  if (change.windowHours !== undefined) next.windowHours = change.windowHours;
  if (change.maxActiveJobs !== undefined) next.maxActiveJobs = change.maxActiveJobs;
  const costs = { ...next.costs };
  for (const model of VEO_MODEL_IDS) {
    const units = change.costs?.[model];
    if (units !== undefined) costs[model] = units;
  }
  next.costs = costs;
  return next;
}

/** Empty lists and maps are not kept, so a server with no overrides stores nothing. */
function compact(s: GuildSettings): GuildSettings {
  const out = { ...s };
  if (out.costs && Object.keys(out.costs).length === 0) delete out.costs;
  if (out.blocked?.length === 0) delete out.blocked;
  if (out.filter?.length === 0) delete out.filter;
  if (out.budget === null) delete out.budget;
  return out;
}
