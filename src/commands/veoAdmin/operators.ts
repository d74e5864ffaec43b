import { z } from 'zod';
import { silentLogger, type Logger } from '../../logger.js';

/** What Get Current Application says about who owns the bot: a user, or a team and its members. */
const applicationOwnersSchema = z.object({
  owner: z.object({ id: z.string() }).nullish(),
  team: z.object({ members: z.array(z.object({ user: z.object({ id: z.string() }) })) }).nullish(),
});

/**
 * The bot's operators: `OPERATOR_IDS`, plus the application's owner (or every member of its team) as
 * Discord reports them once at start. Only they see what the bot's money looks like.
 */
export class Operators {
  readonly #ids: Set<string>;

  constructor(
    configured: readonly string[],
    private readonly logger: Logger = silentLogger,
  ) {
    this.#ids = new Set(configured);
  }

  isOperator(userId: string): boolean {
    return this.#ids.has(userId);
  }

  /**
   * Adds the owners from `GET /applications/@me` (a team's owner field is a stand-in user, so its members
   * count instead); on failure the configured ids alone count.
   */
  async load(fetchApplication: () => Promise<unknown>): Promise<void> {
    try {
      const { owner, team } = applicationOwnersSchema.parse(await fetchApplication());
      const found = team ? team.members.map((m) => m.user.id) : owner ? [owner.id] : [];
      for (const id of found) this.#ids.add(id);
      this.logger.info({ fromApplication: found.length, operators: this.#ids.size }, 'operators known');
    } catch (error) {
      this.logger.warn({ err: error }, 'could not read the application owner; only OPERATOR_IDS are operators');
    }
  }
}
