import { time, TimestampStyles } from 'discord.js';

/** "in 5 minutes" / "3 hours ago", rendered by each member's client in their own language. */
export function relativeTime(ms: number): string {
  return time(Math.floor(ms / 1000), TimestampStyles.RelativeTime);
}

/** An absolute date and time each member sees in their own zone. */
export function absoluteTime(ms: number): string {
  return time(Math.floor(ms / 1000), TimestampStyles.LongDateShortTime);
}

export function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 1 ? `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

/** At most `max` characters, an ellipsis marking the cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
