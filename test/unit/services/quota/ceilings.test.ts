import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { renderClamps, renderLimits } from '../../../../src/commands/veoAdmin/views.js';
import { GuildSettingsStore } from '../../../../src/services/quota/guildSettings.js';
import {
  clampSettings,
  costsBelowFloor,
  resolveLimits,
  type QuotaDefaults,
} from '../../../../src/services/quota/limits.js';
import { QuotaService } from '../../../../src/services/quota/service.js';

const defaults: QuotaDefaults = {
  limit: 5,
  windowHours: 24,
  costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 },
  maxActiveJobs: 2,
  ceilings: { maxAllowance: 20, minWindowHours: 24, maxActiveJobs: 3 },
};

describe('operator ceilings on server settings', () => {
  it('GIVEN values past every ceiling THEN each is held to its ceiling, and each hold is named', () => {
    const { settings, clamped } = clampSettings(defaults, { limit: 1000, windowHours: 1, maxActiveJobs: 50 });
    expect(settings).toEqual({ limit: 20, windowHours: 24, maxActiveJobs: 3 });
    expect(clamped).toEqual([
      { setting: 'limit', asked: 1000, applied: 20 },
      { setting: 'windowHours', asked: 1, applied: 24 },
      { setting: 'maxActiveJobs', asked: 50, applied: 3 },
    ]);
    expect(renderClamps('zh-CN', clamped)[0]).toBe(
      '每位成员的额度：你设置了 1000 个单位；机器人运营者最多允许 20 个，因此设为 20。',
    );
  });

  it('GIVEN values inside the ceilings THEN nothing is held', () => {
    expect(clampSettings(defaults, { limit: 20, windowHours: 48, maxActiveJobs: 1, costs: { veo3: 6 } })).toEqual({
      settings: { limit: 20, windowHours: 48, maxActiveJobs: 1, costs: { veo3: 6 } },
      clamped: [],
    });
  });

  it('GIVEN costs below the environment’s THEN a change is refused naming the floor; raising is fine', () => {
    expect(costsBelowFloor(defaults, { veo3: 1, veo3_fast: 1, veo3_lite: 3 })).toEqual([
      { model: 'veo3', asked: 1, floor: 4 },
    ]);
    expect(costsBelowFloor(defaults, { veo3: 9 })).toEqual([]);
    expect(costsBelowFloor(defaults, undefined)).toEqual([]);
  });

  it('GIVEN settings stored before the ceilings existed WHEN read THEN they are clamped, and the view says so beside each ceiling', async () => {
    const guilds = new GuildSettingsStore(new Keyv({ namespace: 'guilds' }));
    // The old command took up to 1000 units, 1 h windows, 50 active jobs and cost 1 for any model.
    await guilds.changeLimits('g1', { limit: 1000, windowHours: 1, maxActiveJobs: 50, costs: { veo3: 1 } });
    const quota = new QuotaService({
      store: new Keyv({ namespace: 'quota' }),
      clock: { now: () => Date.UTC(2025, 0, 1) },
      defaults,
      settings: (g) => guilds.get(g),
    });
    const limits = await quota.limits('g1');
    expect(limits).toMatchObject({ limit: 20, windowHours: 24, maxActiveJobs: 3, costs: { veo3: 4 } });
    expect(limits.clamped.map((c) => c.setting)).toEqual(['limit', 'windowHours', 'maxActiveJobs', 'cost']);
    expect(await quota.reserve({ guildId: 'g1', userId: 'u' }, 'j1', 'veo3')).toMatchObject({ ok: true, units: 4 });

    const view = renderLimits('en-US', await guilds.get('g1'), limits, defaults);
    expect(view).toContain(
      'Allowance per member: 20 units (set here as 1000, held to 20; the bot’s operator allows at most 20)',
    );
    expect(view).toContain(
      'Window: 24 h, rolling (set here as 1, held to 24; the bot’s operator allows no less than 24)',
    );
    expect(view).toContain(
      'Cost of veo3: 4 units (set here as 1, held to 4; the bot’s operator allows no less than 4)',
    );
    expect(view).toContain(
      'Videos in progress per member: 3 (set here as 50, held to 3; the bot’s operator allows at most 3)',
    );
  });

  it('GIVEN no ceilings (the arithmetic alone) THEN overrides apply as set', () => {
    const bare: QuotaDefaults = { limit: 5, windowHours: 24, costs: defaults.costs, maxActiveJobs: 2 };
    expect(resolveLimits(bare, { limit: 1000 })).toMatchObject({ limit: 1000, clamped: [] });
  });
});
