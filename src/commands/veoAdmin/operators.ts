import { Team, type ClientApplication } from 'discord.js';
import { silentLogger, type Logger } from '../../logger.js';

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

  /** Reads the application's owner from Discord; on failure the configured ids alone count. */
  async load(fetchApplication: () => Promise<ClientApplication>): Promise<void> {
    try {
      const { owner } = await fetchApplication();
      const found = owner instanceof Team ? [...owner.members.keys()] : owner ? [owner.id] : [];
      for (const id of found) this.#ids.add(id);
      this.logger.info({ fromApplication: found.length, operators: this.#ids.size }, 'operators known');
    } catch (error) {
      this.logger.warn({ err: error }, 'could not read the application owner; only OPERATOR_IDS are operators');
    }
  }
}
