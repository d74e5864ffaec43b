import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadDeployConfig } from '../../src/config.js';

const minimal = {
  DISCORD_TOKEN: 'discord-token-value',
  DISCORD_APPLICATION_ID: '123456789012345678',
  KIE_API_KEY: 'kie-key-value',
};

function problems(env: Record<string, string>): { key: string; problem: string; hint: string }[] {
  try {
    loadConfig(env, '/srv/bot');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('GIVEN an empty environment THEN every required key is reported with where to get it', () => {
    const found = problems({});
    expect(found.map((p) => p.key).sort()).toEqual(['DISCORD_APPLICATION_ID', 'DISCORD_TOKEN', 'KIE_API_KEY']);
    for (const p of found) expect(p.hint.length).toBeGreaterThan(10);
  });

  it('GIVEN several invalid keys THEN they are all reported together', () => {
    const found = problems({
      ...minimal,
      DISCORD_APPLICATION_ID: 'not-a-snowflake',
      HTTP_PORT: '99999',
      KIE_GENERATE_RATE: 'fast',
      ALLOW_DMS: 'maybe',
      DEFAULT_MODEL: 'veo2',
      KIE_API_BASE_URL: 'ftp://x',
    });
    expect(found.map((p) => p.key).sort()).toEqual([
      'ALLOW_DMS',
      'DEFAULT_MODEL',
      'DISCORD_APPLICATION_ID',
      'HTTP_PORT',
      'KIE_API_BASE_URL',
      'KIE_GENERATE_RATE',
    ]);
  });

  it('GIVEN a rate with a zero window among other bad keys THEN it is one more listed problem', () => {
    const found = problems({ ...minimal, KIE_GENERATE_RATE: '20/0s', HTTP_PORT: '99999' });
    expect(found.map((p) => p.key).sort()).toEqual(['HTTP_PORT', 'KIE_GENERATE_RATE']);
    expect(found.find((p) => p.key === 'KIE_GENERATE_RATE')?.hint).toContain('N/Ms');
  });

  it('GIVEN a cost for every model THEN each lands on its model', () => {
    const config = loadConfig({ ...minimal, QUOTA_COST_VEO3: '6', QUOTA_COST_FAST: '2', QUOTA_COST_LITE: '3' });
    expect(config.quota.costs).toEqual({ veo3: 6, veo3_fast: 2, veo3_lite: 3 });
    expect(problems({ ...minimal, QUOTA_COST_LITE: '0' }).map((p) => p.key)).toEqual(['QUOTA_COST_LITE']);
  });

  it('GIVEN the minimal keys THEN the documented defaults apply', () => {
    const config = loadConfig(minimal, '/srv/bot');
    expect(config.store).toEqual({ kind: 'sqlite', file: '/srv/bot/data/veo-bot.sqlite' });
    expect(config.kieApiBaseUrl).toBe('https://api.kie.ai');
    expect(config.kieUploadBaseUrl).toBe('https://kieai.redpandaai.co');
    expect(config.discordApiBaseUrl).toBe('https://discord.com/api');
    expect(config.defaultModel).toBe('veo3_fast');
    expect(config.quota).toEqual({
      limit: 5,
      windowHours: 24,
      costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 },
      maxActiveJobs: 2,
    });
    expect(config.generateRate).toEqual({ limit: 20, windowMs: 10_000 });
    expect(config.allowDms).toBe(false);
    expect(config.httpPort).toBe(8080);
    expect(config.devGuildId).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("GIVEN STORE_TIMEOUT_MS THEN 2000 by default, and a value that could not answer within Discord's 3 s is refused", () => {
    expect(loadConfig(minimal).storeTimeoutMs).toBe(2_000);
    expect(loadConfig({ ...minimal, STORE_TIMEOUT_MS: '750' }).storeTimeoutMs).toBe(750);
    expect(problems({ ...minimal, STORE_TIMEOUT_MS: '3000' }).map((p) => p.key)).toEqual(['STORE_TIMEOUT_MS']);
    expect(problems({ ...minimal, STORE_TIMEOUT_MS: '50' })[0]?.hint).toContain('3 s');
  });

  it('GIVEN an absolute sqlite path and empty optional keys THEN they are read as such', () => {
    const config = loadConfig({
      ...minimal,
      STORE_URL: 'sqlite:///var/lib/veo/bot.sqlite',
      DEV_GUILD_ID: '',
      PUBLIC_BASE_URL: '',
    });
    expect(config.store).toEqual({ kind: 'sqlite', file: '/var/lib/veo/bot.sqlite' });
    expect(config.devGuildId).toBeUndefined();
    expect(config.publicBaseUrl).toBeUndefined();
  });

  it('GIVEN a default model that costs more than the limit THEN start is refused with the reason', () => {
    const found = problems({ ...minimal, DEFAULT_MODEL: 'veo3', QUOTA_LIMIT: '3' });
    expect(found).toHaveLength(1);
    expect(found[0]?.key).toBe('DEFAULT_MODEL');
    expect(found[0]?.problem).toContain('QUOTA_LIMIT');
  });

  it('GIVEN a config error THEN its message names no secret value', () => {
    try {
      loadConfig({ ...minimal, DISCORD_APPLICATION_ID: 'x' });
    } catch (error) {
      expect((error as Error).message).not.toContain(minimal.DISCORD_TOKEN);
      expect((error as Error).message).not.toContain(minimal.KIE_API_KEY);
      expect((error as Error).message).toContain('DISCORD_APPLICATION_ID');
    }
  });

  it('GIVEN deploy-commands THEN only the Discord keys are required', () => {
    const config = loadDeployConfig({
      DISCORD_TOKEN: 't',
      DISCORD_APPLICATION_ID: '123456789012345678',
      DEV_GUILD_ID: '223456789012345678',
    });
    expect(config.devGuildId).toBe('223456789012345678');
    expect(() => loadDeployConfig({})).toThrow(ConfigError);
  });
});
