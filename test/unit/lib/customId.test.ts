import { describe, expect, it } from 'vitest';
import {
  CustomIdPrefix,
  decodeCustomId,
  decodeSettingsId,
  encodeCustomId,
  encodeSettingsId,
  SETTINGS_CONTROLS,
} from '../../../src/lib/customId.js';
import { newJobId } from '../../../src/lib/jobId.js';

describe('custom_id codec', () => {
  it('GIVEN a job id WHEN encoded and decoded THEN the round trip holds and fits in 100 characters', () => {
    for (let i = 0; i < 50; i++) {
      const jobId = newJobId();
      const id = encodeCustomId(CustomIdPrefix.Upscale1080p, jobId);
      expect(id.length).toBeLessThanOrEqual(100);
      expect(id).toBe(`veo:hd:${jobId}`);
      expect(decodeCustomId(id)).toEqual({ prefix: CustomIdPrefix.Upscale1080p, jobId });
    }
  });

  it('GIVEN ids we never emitted or an older format THEN decoding refuses them', () => {
    expect(decodeCustomId('veo:upscale:abc')).toBeNull();
    expect(decodeCustomId('other:hd:abc')).toBeNull();
    expect(decodeCustomId('veo:hd:')).toBeNull();
    expect(decodeCustomId('veo:hd:ABC')).toBeNull();
    expect(decodeCustomId(`veo:hd:${'a'.repeat(21)}`)).toBeNull();
    expect(decodeCustomId('x'.repeat(101))).toBeNull();
  });

  it('GIVEN a job id that is not base36 THEN encoding throws', () => {
    expect(() => encodeCustomId(CustomIdPrefix.Upscale1080p, 'Bad-Id')).toThrow();
  });

  it('GIVEN new job ids THEN they are 16 base36 characters and a nonce with a suffix fits 25', () => {
    const id = newJobId();
    expect(id).toMatch(/^[0-9a-z]{16}$/);
    expect(`${id}-99`.length).toBeLessThanOrEqual(25);
  });

  it('GIVEN the settings controls THEN their ids round-trip, and neither codec takes the other’s ids', () => {
    for (const control of SETTINGS_CONTROLS) {
      const id = encodeSettingsId(control);
      expect(id).toBe(`veo:settings:${control}`);
      expect(decodeSettingsId(id)).toBe(control);
      // "model" would pass as a job id: the job codec must still refuse it.
      expect(decodeCustomId(id)).toBeNull();
    }
    expect(decodeSettingsId('veo:settings:colour')).toBeNull();
    expect(decodeSettingsId('veo:settings')).toBeNull();
    expect(decodeSettingsId(encodeCustomId(CustomIdPrefix.Rerun, newJobId()))).toBeNull();
  });
});
