import { describe, expect, it } from 'vitest';
import { parseRate } from '../../../src/lib/rate.js';

describe('parseRate', () => {
  it.each([
    ['20/10s', { limit: 20, windowMs: 10_000 }],
    ['5/1m', { limit: 5, windowMs: 60_000 }],
    [' 1/1s ', { limit: 1, windowMs: 1_000 }],
    ['100/15m', { limit: 100, windowMs: 900_000 }],
  ])('GIVEN %j THEN it parses', (text, expected) => {
    expect(parseRate(text)).toEqual(expected);
  });

  it.each(['', '20', '20/10', '20/10h', '0/10s', '20/0s', '-1/10s', '1.5/10s', '20 / 10s', '20/10ms', 'abc'])(
    'GIVEN %j THEN it is refused (null)',
    (text) => {
      expect(parseRate(text)).toBeNull();
    },
  );
});
