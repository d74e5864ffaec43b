import type Keyv from 'keyv';
import { z } from 'zod';
import { KeyedLock } from '../../lib/keyedLock.js';
import { isVeoModel, type VeoModel } from '../../lib/models.js';
import { silentLogger, type Logger } from '../../logger.js';

/** The aspects a member may pick as a default: every generating command accepts both. */
export const DEFAULT_ASPECTS = ['16:9', '9:16'] as const;
export type DefaultAspect = (typeof DEFAULT_ASPECTS)[number];

/** What `/veo settings` keeps for a member; an absent key means "the bot's default". */
export interface MemberDefaults {
  readonly model?: VeoModel;
  readonly aspect?: DefaultAspect;
  readonly private?: boolean;
}

/** A change to the defaults: a value sets the key, null clears it, absent leaves it. */
export type DefaultsChange = { readonly [K in keyof MemberDefaults]?: NonNullable<MemberDefaults[K]> | null };

const defaultsSchema = z.object({
  model: z.custom<VeoModel>((v) => typeof v === 'string' && isVeoModel(v)).exactOptional(),
  aspect: z.enum(DEFAULT_ASPECTS).exactOptional(),
  private: z.boolean().exactOptional(),
});

/**
 * Each member's own defaults in Keyv namespace `members` (key = user id): per member, not per server
 * (DESIGN §1.9), so they follow the member everywhere and only the member changes or forgets them.
 */
export class MemberDefaultsStore {
  readonly #lock = new KeyedLock();

  /** `store` is a Keyv on namespace `members` with its own adapter, created with `throwOnErrors: true`. */
  constructor(
    private readonly store: Keyv,
    private readonly logger: Logger = silentLogger,
  ) {}

  async get(userId: string): Promise<MemberDefaults> {
    const raw: unknown = await this.store.get(userId);
    if (raw === undefined || raw === null) return {};
    const parsed = defaultsSchema.safeParse(raw);
    if (parsed.success) return parsed.data;
    // A damaged value must not break the member's commands: the bot's defaults apply until they choose again.
    this.logger.error({ userId }, 'member defaults unreadable; using the bot defaults');
    return {};
  }

  /** A member's clicks may arrive together; each is a read-modify-write of one value. */
  change(userId: string, change: DefaultsChange): Promise<MemberDefaults> {
    return this.#lock.run(userId, async () => {
      const merged = { ...(await this.get(userId)), ...change };
      const next = Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== null));
      const parsed = defaultsSchema.parse(next);
      if (Object.keys(parsed).length === 0) await this.store.delete(userId);
      else if (!(await this.store.set(userId, parsed))) throw new Error('member defaults write failed');
      return parsed;
    });
  }

  /** True when there was something to delete. */
  forget(userId: string): Promise<boolean> {
    return this.#lock.run(userId, () => this.store.delete(userId));
  }
}
