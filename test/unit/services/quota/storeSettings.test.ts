import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GuildSettingsStore } from '../../../../src/services/quota/guildSettings.js';
import type { QuotaDefaults } from '../../../../src/services/quota/limits.js';
import { QuotaService } from '../../../../src/services/quota/service.js';
import type { StoreLocation } from '../../../../src/config.js';
import { openStores, type Stores } from '../../../../src/services/runtime/store.js';
import { durableBackends } from '../../../helpers/stores.js';

const T0 = Date.UTC(2025, 0, 1);
const defaults: QuotaDefaults = {
  limit: 3,
  windowHours: 24,
  costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 },
  maxActiveJobs: 50,
};

/** The production wiring: settings in namespace `guilds`, the ledger in `quota`, one store (SQLite file or Redis). */
describe.each(durableBackends)('server settings and the quota ledger on $name', (backend) => {
  let location: StoreLocation;
  let stores: Stores[];

  async function open(): Promise<{ settings: GuildSettingsStore; quota: QuotaService }> {
    const s = openStores(location);
    stores.push(s);
    await s.ready;
    const settings = new GuildSettingsStore(s.guilds);
    const quota = new QuotaService({
      store: s.quota,
      clock: { now: () => T0 },
      defaults,
      settings: (g) => settings.get(g),
    });
    return { settings, quota };
  }

  beforeEach(async () => {
    stores = [];
    location = await backend.fresh();
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    if (location) await backend.remove(location);
  });

  it('GIVEN a server budget of 7 WHEN 50 reservations from 10 members race THEN exactly 7 are granted', async () => {
    const { settings, quota } = await open();
    await settings.setBudget('g1', 7);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        quota.reserve({ guildId: 'g1', userId: `m${i % 10}` }, `job${i}`, 'veo3_fast'),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(7);
    expect(results.filter((r) => !r.ok && r.reason === 'budget')).toHaveLength(43);
    expect(await quota.serverUsage('g1')).toMatchObject({ used: 7, held: 7, budget: 7, remaining: 0 });
  });

  it('GIVEN 20 admin changes at once WHEN they land THEN none is lost, and a restart reads them back', async () => {
    const { settings } = await open();
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => settings.setBlocked('g1', `m${i}`, true)),
      ...Array.from({ length: 10 }, (_, i) => settings.changeLimits('g1', { costs: { veo3: 1 + i } })),
    ]);
    const first = await settings.get('g1');
    expect(first.blocked).toHaveLength(10);
    const [before] = stores.splice(0);
    await before?.close();

    const { settings: again, quota } = await open();
    expect(await again.get('g1')).toEqual(first);
    expect(await quota.reserve({ guildId: 'g1', userId: 'm3' }, 'j1', 'veo3_fast')).toMatchObject({
      ok: false,
      reason: 'blocked',
    });
    expect(await quota.reserve({ guildId: 'g1', userId: 'other' }, 'j2', 'veo3_fast')).toMatchObject({ ok: true });
  });
});
