import Keyv from 'keyv';
import { beforeEach, describe, expect, it } from 'vitest';
import { GuildSettingsStore, applyLimits } from '../../../../src/services/quota/guildSettings.js';

describe('GuildSettingsStore', () => {
  let store: Keyv;
  let settings: GuildSettingsStore;

  beforeEach(() => {
    store = new Keyv({ namespace: 'guilds' });
    settings = new GuildSettingsStore(store);
  });

  it('GIVEN no settings WHEN read THEN empty, so every default applies', async () => {
    expect(await settings.get('g1')).toEqual({});
  });

  it('GIVEN limit changes WHEN applied one after another THEN only the changed keys are stored', async () => {
    await settings.changeLimits('g1', { limit: 8 });
    await settings.changeLimits('g1', { costs: { veo3: 3 }, windowHours: 12 });
    expect(await store.get('g1')).toEqual({ limit: 8, windowHours: 12, costs: { veo3: 3 } });
  });

  it('GIVEN defaults: true WHEN applied THEN limit overrides go, the block list and budget stay', async () => {
    await settings.changeLimits('g1', { limit: 8, maxActiveJobs: 4, costs: { veo3_fast: 2 } });
    await settings.setBlocked('g1', 'u1', true);
    await settings.setBudget('g1', 20);
    const result = await settings.changeLimits('g1', { defaults: true, limit: 6 });
    expect(result).toEqual({ ok: true, settings: { limit: 6, blocked: ['u1'], budget: 20 } });
  });

  it('GIVEN budget 0 or null WHEN set THEN the budget is removed and an empty value is deleted', async () => {
    await settings.setBudget('g1', 10);
    expect(await settings.get('g1')).toEqual({ budget: 10 });
    await settings.setBudget('g1', 0);
    expect(await store.get('g1')).toBeUndefined();
    await settings.setBudget('g1', 10);
    await settings.setBudget('g1', null);
    expect(await store.get('g1')).toBeUndefined();
  });

  it('GIVEN block and unblock WHEN repeated THEN each reports whether it changed anything', async () => {
    expect(await settings.setBlocked('g1', 'u1', true)).toBe(true);
    expect(await settings.setBlocked('g1', 'u1', true)).toBe(false);
    expect(await settings.get('g1')).toEqual({ blocked: ['u1'] });
    expect(await settings.setBlocked('g1', 'u1', false)).toBe(true);
    expect(await settings.setBlocked('g1', 'u1', false)).toBe(false);
    expect(await store.get('g1')).toBeUndefined();
  });

  it('GIVEN a change the caller does not accept WHEN applied THEN nothing is stored', async () => {
    await settings.changeLimits('g1', { limit: 8 });
    const result = await settings.changeLimits('g1', { limit: 1 }, (next) => (next.limit ?? 0) > 2);
    expect(result).toEqual({ ok: false, settings: { limit: 8 } });
    expect(await settings.get('g1')).toEqual({ limit: 8 });
  });

  it('GIVEN a damaged value WHEN read THEN the defaults apply instead of failing the server', async () => {
    await store.set('g1', { limit: 'lots' });
    expect(await settings.get('g1')).toEqual({});
  });

  it('GIVEN two servers WHEN one changes THEN the other is untouched', async () => {
    await settings.setBudget('g1', 5);
    expect(await settings.get('g2')).toEqual({});
  });

  it('GIVEN a filter and a log channel WHEN limits go back to defaults THEN both stay; null turns the log off', async () => {
    await settings.changeFilter('g1', (entries) => [...entries, 'cat']);
    await settings.setLogChannel('g1', { channelId: '555', locale: 'zh-CN' });
    await settings.changeLimits('g1', { limit: 8 });
    await settings.changeLimits('g1', { defaults: true });
    expect(await settings.get('g1')).toEqual({ filter: ['cat'], logChannel: { channelId: '555', locale: 'zh-CN' } });
    await settings.changeFilter('g1', () => null);
    await settings.setLogChannel('g1', null);
    await settings.changeFilter('g1', () => []);
    expect(await store.get('g1')).toBeUndefined();
  });

  it('applyLimits is pure', () => {
    const before = { limit: 3, costs: { veo3: 2 } };
    expect(applyLimits(before, { costs: { veo3_lite: 2 } })).toEqual({ limit: 3, costs: { veo3: 2, veo3_lite: 2 } });
    expect(before).toEqual({ limit: 3, costs: { veo3: 2 } });
  });
});
