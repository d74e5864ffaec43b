import type { LogFields, Logger } from '../../src/logger.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  /** The line's fields, with the bindings of the child logger that wrote it. */
  fields: LogFields;
  message: string;
}

/** Keeps every log line so tests can assert on what an operator would read. */
export function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const make = (bindings: LogFields): Logger & { lines: LogLine[] } => {
    const at =
      (level: LogLine['level']) =>
      (fields: LogFields, message: string): void => {
        lines.push({ level, fields: { ...bindings, ...fields }, message });
      };
    return {
      lines,
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return make({});
}
