import { describe, expect, it } from 'vitest';
import { isJobId, JOB_ID_PATTERN, newJobId } from '../../../src/lib/jobId.js';

describe('job ids', () => {
  it('GIVEN many new ids THEN each is 16 base36 characters, all differ, and every base36 digit occurs', () => {
    const ids = Array.from({ length: 500 }, () => newJobId());
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-z]{16}$/);
      expect(isJobId(id)).toBe(true);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids.join('')).size).toBe(36);
  });

  it('GIVEN strings that are not our ids THEN the one pattern refuses them', () => {
    for (const bad of ['', 'ABC', 'a-b', 'a'.repeat(21), 'abc\n', ' abc']) expect(isJobId(bad)).toBe(false);
    expect(isJobId('a'.repeat(20))).toBe(true);
    expect(JOB_ID_PATTERN.test('a1')).toBe(true);
  });
});
