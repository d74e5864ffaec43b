import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreLocation } from '../../../../src/config.js';
import { MemberDefaultsStore } from '../../../../src/services/members/defaults.js';
import { GuildSettingsStore } from '../../../../src/services/quota/guildSettings.js';
import { openStores, type Stores } from '../../../../src/services/runtime/store.js';
import { recordingLogger } from '../../../helpers/logger.js';
import { durableBackends } from '../../../helpers/stores.js';

describe('MemberDefaultsStore', () => {
  it('GIVEN changes THEN a value sets a key, null clears it, absent keeps it; nothing left stores nothing', async () => {
    const store = new Keyv({ namespace: 'members' });
    const defaults = new MemberDefaultsStore(store);
    expect(await defaults.get('u1')).toEqual({});
    await defaults.change('u1', { model: 'veo3_lite', aspect: '9:16' });
    expect(await defaults.change('u1', { private: true, aspect: null })).toEqual({ model: 'veo3_lite', private: true });
    expect(await store.get('u1')).toEqual({ model: 'veo3_lite', private: true });
    await defaults.change('u1', { model: null, private: null });
    expect(await store.get('u1')).toBeUndefined();
    expect(await defaults.forget('u1')).toBe(false);
  });

  it('GIVEN clicks that arrive together THEN none is lost', async () => {
    const defaults = new MemberDefaultsStore(new Keyv({ namespace: 'members' }));
    await Promise.all([
      defaults.change('u1', { model: 'veo3' }),
      defaults.change('u1', { aspect: '9:16' }),
      defaults.change('u1', { private: true }),
    ]);
    expect(await defaults.get('u1')).toEqual({ model: 'veo3', aspect: '9:16', private: true });
  });

  it('GIVEN a damaged value THEN the bot defaults apply and it is logged, never thrown at the member', async () => {
    const store = new Keyv({ namespace: 'members' });
    const logger = recordingLogger();
    await store.set('u1', { model: 'sora', aspect: '4:3' });
    expect(await new MemberDefaultsStore(store, logger).get('u1')).toEqual({});
    expect(logger.lines.map((l) => l.message)).toEqual(['member defaults unreadable; using the bot defaults']);
  });
});

/** The production wiring: namespace `members` with its own adapter beside `guilds`, on SQLite and on Redis. */
describe.each(durableBackends)('member defaults on $name', (backend) => {
  let location: StoreLocation;
  let opened: Stores[];

  beforeEach(async () => {
    opened = [];
    location = await backend.fresh();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await backend.remove(location);
  });

  async function open(): Promise<Stores> {
    const stores = openStores(location);
    opened.push(stores);
    await stores.ready;
    return stores;
  }

  it('GIVEN a member and a server with the same id THEN neither sees the other, and a restart reads the defaults back', async () => {
    const first = await open();
    await new MemberDefaultsStore(first.members).change('42', { model: 'veo3_lite', aspect: '9:16' });
    await new GuildSettingsStore(first.guilds).setBudget('42', 7);
    const keys: string[] = [];
    for await (const [key] of first.members.iterator!(first.members.namespace)) keys.push(String(key));
    expect(keys).toEqual(['42']);
    await opened.splice(0, 1)[0]?.close();

    const again = await open();
    expect(await new MemberDefaultsStore(again.members).get('42')).toEqual({ model: 'veo3_lite', aspect: '9:16' });
    expect(await new GuildSettingsStore(again.guilds).get('42')).toEqual({ budget: 7 });
  });
});
