import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { GuildSettingsStore } from '../../../../src/services/quota/guildSettings.js';

/** A Keyv whose reads are counted and whose next write can be made to fail or be held back. */
function countedStore() {
  const store = new Keyv({ namespace: 'guilds' });
  const counts = { gets: 0 };
  const control: { failNextSet: boolean; holdNextGet: Promise<void> | null } = {
    failNextSet: false,
    holdNextGet: null,
  };
  const get = store.get.bind(store);
  const set = store.set.bind(store);
  Object.assign(store, {
    get: async (key: string) => {
      counts.gets++;
      const value: unknown = await get(key);
      const hold = control.holdNextGet;
      control.holdNextGet = null;
      if (hold) await hold;
      return value;
    },
    set: async (key: string, value: unknown) => {
      if (control.failNextSet) {
        control.failNextSet = false;
        await set(key, value);
        throw new Error('store did not answer');
      }
      return set(key, value);
    },
  });
  return { store, counts, control };
}

describe('GuildSettingsStore cache', () => {
  it('GIVEN settings read once WHEN read again THEN the store is not asked twice', async () => {
    const { store, counts } = countedStore();
    await store.set('g1', { limit: 4 });
    const settings = new GuildSettingsStore(store);
    expect(await settings.get('g1')).toEqual({ limit: 4 });
    expect(await settings.get('g1')).toEqual({ limit: 4 });
    expect(await settings.get('g2')).toEqual({});
    expect(await settings.get('g2')).toEqual({});
    expect(counts.gets).toBe(2);
  });

  it('GIVEN cached settings WHEN changed THEN the next read sees the change without asking the store', async () => {
    const { store, counts } = countedStore();
    const settings = new GuildSettingsStore(store);
    await settings.get('g1');
    await settings.setWatermark('g1', 'mark');
    const before = counts.gets;
    expect(await settings.get('g1')).toEqual({ watermark: 'mark' });
    expect(counts.gets).toBe(before);
  });

  it('GIVEN what get returned WHEN the caller changes it THEN the cached settings stay', async () => {
    const { store } = countedStore();
    const settings = new GuildSettingsStore(store);
    await settings.changeLimits('g1', { limit: 4, costs: { veo3: 2 } });
    const read = await settings.get('g1');
    read.limit = 99;
    if (read.costs) read.costs.veo3 = 99;
    expect(await settings.get('g1')).toEqual({ limit: 4, costs: { veo3: 2 } });
  });

  it('GIVEN a write that failed but landed WHEN read THEN the store is asked again', async () => {
    const { store, control } = countedStore();
    const settings = new GuildSettingsStore(store);
    await settings.get('g1');
    control.failNextSet = true;
    await expect(settings.setBudget('g1', 7)).rejects.toThrow('store did not answer');
    expect(await settings.get('g1')).toEqual({ budget: 7 });
  });

  it('GIVEN a read that started before a change WHEN it answers after THEN its old value is not cached', async () => {
    const { store, control } = countedStore();
    await store.set('g1', { limit: 3 });
    const settings = new GuildSettingsStore(store);
    let release = (): void => undefined;
    control.holdNextGet = new Promise<void>((resolve) => (release = resolve));
    const early = settings.get('g1');
    await settings.changeLimits('g1', { limit: 9 });
    release();
    expect(await early).toEqual({ limit: 3 });
    expect(await settings.get('g1')).toEqual({ limit: 9 });
  });
});
