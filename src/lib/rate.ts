export interface Rate {
  limit: number;
  windowMs: number;
}

const RATE = /^(\d+)\/(\d+)(s|m)$/;

/** Reads `N/Ms` or `N/Mm` (for example `20/10s` or `5/1m`) with N and M at least 1; null otherwise. */
export function parseRate(text: string): Rate | null {
  const match = RATE.exec(text.trim());
  if (!match) return null;
  const limit = Number(match[1]);
  const amount = Number(match[2]);
  if (!Number.isSafeInteger(limit) || limit < 1 || !Number.isSafeInteger(amount) || amount < 1) return null;
  return { limit, windowMs: amount * (match[3] === 'm' ? 60_000 : 1_000) };
}
