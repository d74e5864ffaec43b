import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { QuotaService } from '../../../../src/services/quota/service.js';

const T0 = Date.UTC(2025, 0, 1);

describe('QuotaService.reconcile at start', () => {
  it('GIVEN a reservation this process made before its job record exists THEN reconcile leaves it alone', async () => {
    let now = T0;
    const quota = new QuotaService({
      store: new Keyv({ namespace: 'quota' }),
      clock: { now: () => now },
      defaults: { limit: 5, windowHours: 24, costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 }, maxActiveJobs: 5 },
    });
    const scope = { guildId: 'g1', userId: 'u1' };
    expect((await quota.reserve(scope, 'leftover', 'veo3_fast')).ok).toBe(true);
    now += 1_000;
    const startedAt = now;
    now += 1;
    expect((await quota.reserve(scope, 'fresh', 'veo3_fast')).ok).toBe(true);

    const result = await quota.reconcile(
      async () => 'missing',
      () => true,
      startedAt,
    );

    expect(result.refunded).toBe(1);
    const status = await quota.status(scope);
    expect(status.used).toBe(1);
    expect(status.activeJobs).toBe(1);
    expect(await quota.refund(scope, 'leftover')).toBe(false);
    expect(await quota.refund(scope, 'fresh')).toBe(true);
  });
});
