/** The sizes and lifetimes delivery works within (DESIGN §4 "Upload limit", "Past the token"). */

export const MiB = 1024 * 1024;

/** Bot-token posts in a server without boosts, and every DM. */
export const DEFAULT_UPLOAD_LIMIT = 10 * MiB;

/** Interaction tokens live 15 minutes; stop trusting one a minute early. */
export const TOKEN_LIFETIME_MS = 14 * 60_000;

/** The server's boost tier decides what a bot-token post may attach. */
export function uploadLimitForTier(premiumTier: number): number {
  if (premiumTier >= 3) return 100 * MiB;
  if (premiumTier === 2) return 50 * MiB;
  return DEFAULT_UPLOAD_LIMIT;
}

/** Downloads kept for a later attempt, in total; past it the least recently used are dropped. */
export const KEPT_DOWNLOADS_BYTES = 256 * MiB;

/** A kept download nobody asked for in this long is dropped (a job the runner gave up on). */
export const KEPT_DOWNLOAD_IDLE_MS = 60 * 60_000;
