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
      ceilings: { maxAllowance: 20, minWindowHours: 24, maxActiveJobs: 5 },
    });
    expect(config.userDailyUnits).toBeNull();
    expect(config.credits).toEqual({
      dailyBudget: null,
      prices: { models: { veo3: 250, veo3_fast: 60, veo3_lite: 30 }, hd1080p: 5, uhd4k: 120 },
    });
    expect(config.quotaCost4k).toBe(2);
    expect(config.operatorIds).toEqual([]);
    expect(config.generateRate).toEqual({ limit: 20, windowMs: 10_000 });
    expect(config.allowDms).toBe(false);
    expect(config.httpPort).toBe(8080);
    expect(config.httpHost).toBe('0.0.0.0');
    expect(config.opsHttpPort).toBe(9090);
    expect(config.opsHttpHost).toBe('127.0.0.1');
    expect(config.allowUnsignedCallbacks).toBe(false);
    expect(config.trustedMediaOrigins).toEqual([]);
    expect(config.maxVideoBytes).toBe(104_857_600);
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

  it('GIVEN TRUSTED_MEDIA_ORIGINS THEN each is normalised to its origin; a path, another scheme or junk is refused', () => {
    const config = loadConfig({
      ...minimal,
      TRUSTED_MEDIA_ORIGINS: ' http://127.0.0.1:4010 , HTTPS://CDN.Example:443/ ,',
    });
    expect(config.trustedMediaOrigins).toEqual(['http://127.0.0.1:4010', 'https://cdn.example']);
    for (const bad of ['http://127.0.0.1:4010/files', 'file:///etc', 'ftp://x', 'not a url', 'http://u:p@h'])
      expect(problems({ ...minimal, TRUSTED_MEDIA_ORIGINS: bad }).map((p) => p.key)).toEqual(['TRUSTED_MEDIA_ORIGINS']);
  });

  it('GIVEN PUBLIC_BASE_URL without KIE_WEBHOOK_HMAC_KEY THEN start is refused naming the key, unless unsigned callbacks are allowed', () => {
    const found = problems({ ...minimal, PUBLIC_BASE_URL: 'https://veo.example' });
    expect(found.map((p) => p.key)).toEqual(['KIE_WEBHOOK_HMAC_KEY']);
    expect(found[0]?.hint).toContain('ALLOW_UNSIGNED_CALLBACKS=true');
    const allowed = loadConfig({
      ...minimal,
      PUBLIC_BASE_URL: 'https://veo.example',
      ALLOW_UNSIGNED_CALLBACKS: 'true',
    });
    expect(allowed.allowUnsignedCallbacks).toBe(true);
    expect(
      loadConfig({ ...minimal, PUBLIC_BASE_URL: 'https://veo.example', KIE_WEBHOOK_HMAC_KEY: 'k' }).publicBaseUrl,
    ).toBe('https://veo.example');
  });

  it('GIVEN the operator listener on the public port THEN start is refused', () => {
    expect(problems({ ...minimal, HTTP_PORT: '8080', OPS_HTTP_PORT: '8080' }).map((p) => p.key)).toEqual([
      'OPS_HTTP_PORT',
    ]);
    expect(loadConfig({ ...minimal, HTTP_PORT: '0', OPS_HTTP_PORT: '0' }).opsHttpPort).toBe(0);
  });

  it('GIVEN defaults outside the operator’s ceilings THEN start is refused, each naming both keys', () => {
    const found = problems({
      ...minimal,
      QUOTA_LIMIT: '50',
      QUOTA_WINDOW_HOURS: '6',
      MAX_ACTIVE_JOBS_PER_USER: '8',
      USER_DAILY_UNITS: '0',
    });
    expect(found.map((p) => p.key).sort()).toEqual(['USER_DAILY_UNITS']);
    const contradictions = problems({
      ...minimal,
      QUOTA_LIMIT: '50',
      QUOTA_WINDOW_HOURS: '6',
      MAX_ACTIVE_JOBS_PER_USER: '8',
      DAILY_CREDIT_BUDGET: '59',
    });
    expect(contradictions.map((p) => p.key)).toEqual([
      'QUOTA_LIMIT',
      'QUOTA_WINDOW_HOURS',
      'MAX_ACTIVE_JOBS_PER_USER',
      'DAILY_CREDIT_BUDGET',
    ]);
    expect(contradictions[0]?.problem).toContain('SERVER_MAX_ALLOWANCE (20)');
    expect(contradictions[3]?.problem).toContain('one veo3_fast video (60 credits)');
    const raised = loadConfig({
      ...minimal,
      QUOTA_LIMIT: '50',
      SERVER_MAX_ALLOWANCE: '50',
      QUOTA_WINDOW_HOURS: '6',
      SERVER_MIN_WINDOW_HOURS: '6',
    });
    expect(raised.quota).toMatchObject({ limit: 50, ceilings: { maxAllowance: 50, minWindowHours: 6 } });
  });

  it('GIVEN the budget keys THEN prices, budget, the daily cap and the operators are read', () => {
    const config = loadConfig({
      ...minimal,
      DAILY_CREDIT_BUDGET: '20000',
      KIE_CREDITS_FAST: '168',
      KIE_CREDITS_1080P: '0',
      USER_DAILY_UNITS: '10',
      OPERATOR_IDS: ' 111111111111111111, 222222222222222222 ,111111111111111111',
    });
    expect(config.credits).toEqual({
      dailyBudget: 20000,
      prices: { models: { veo3: 250, veo3_fast: 168, veo3_lite: 30 }, hd1080p: 0, uhd4k: 120 },
    });
    expect(config.userDailyUnits).toBe(10);
    expect(config.operatorIds).toEqual(['111111111111111111', '222222222222222222']);
    expect(problems({ ...minimal, OPERATOR_IDS: 'alice' }).map((p) => p.key)).toEqual(['OPERATOR_IDS']);
    expect(problems({ ...minimal, DAILY_CREDIT_BUDGET: 'lots' }).map((p) => p.key)).toEqual(['DAILY_CREDIT_BUDGET']);
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
