import { pino, type Logger as PinoLogger } from 'pino';

export type LogFields = Record<string, unknown>;

/** The leveled logging surface services depend on; pino satisfies it, tests pass a recorder. */
export interface Logger {
  debug(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
  child(bindings: LogFields): Logger;
}

const REDACTED_PATHS = [
  'token',
  'apiKey',
  'authorization',
  'headers.authorization',
  '*.token',
  '*.apiKey',
  '*.authorization',
  'interaction.token',
  'job.interaction.token',
];

export function createLogger(level: string, secrets: readonly string[], destination?: NodeJS.WritableStream): Logger {
  const hooks = {
    // Redaction by path misses a secret quoted inside an error message; scrub values too.
    logMethod(this: PinoLogger, args: Parameters<PinoLogger['info']>, method: PinoLogger['info']) {
      method.apply(this, scrubSecrets(args, secrets));
    },
  };
  const options = { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, hooks, base: { app: 'veo-bot' } };
  return destination ? pino(options, destination) : pino(options);
}

export function scrubSecrets<T>(value: T, secrets: readonly string[]): T {
  const live = secrets.filter((s) => s.length >= 8);
  if (live.length === 0) return value;
  return scrub(value, live, 0) as T;
}

function scrub(value: unknown, secrets: readonly string[], depth: number): unknown {
  if (typeof value === 'string') {
    let out = value;
    for (const secret of secrets) out = out.split(secret).join('[redacted]');
    return out;
  }
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    const copy: Record<string, unknown> = { name: value.name, message: scrub(value.message, secrets, depth + 1) };
    if (value.stack) copy.stack = scrub(value.stack, secrets, depth + 1);
    return copy;
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, secrets, depth + 1);
  return out;
}

/** A logger that keeps nothing, for tests and scripts that do not care. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
