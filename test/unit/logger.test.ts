import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('logger', () => {
  it('GIVEN secrets inside messages, fields and errors THEN none reaches the log line', () => {
    const { stream, text } = capture();
    const logger = createLogger('info', ['discord-secret-token', 'kie-secret-key'], stream);
    logger.error(
      { token: 'x', nested: { note: 'Bearer kie-secret-key' }, err: new Error('bad discord-secret-token') },
      'failed with kie-secret-key',
    );
    const out = text();
    expect(out).toContain('failed with');
    expect(out).not.toContain('discord-secret-token');
    expect(out).not.toContain('kie-secret-key');
    expect(out).toContain('[redacted]');
  });
});
