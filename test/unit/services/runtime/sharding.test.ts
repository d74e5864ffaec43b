import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, secretsOf } from '../../../../src/config.js';
import { ownsGuild, shardKey, shardOfGuild } from '../../../../src/lib/shard.js';
import { silentLogger } from '../../../../src/logger.js';
import { GatewayBotError, recommendedShardCount } from '../../../../src/services/runtime/gatewayBot.js';
import {
  answerManager,
  ShardRequester,
  ShardRequestError,
  type IpcPort,
} from '../../../../src/services/runtime/shardLink.js';

const minimal = {
  DISCORD_TOKEN: 'discord-token-value',
  DISCORD_APPLICATION_ID: '123456789012345678',
  KIE_API_KEY: 'kie-key-value',
};

describe('sharding configuration', () => {
  it('GIVEN nothing about shards THEN SHARD_COUNT is auto, spawns are 5.5 s apart, and this process is no shard', () => {
    const config = loadConfig(minimal, '/srv/bot');
    expect(config).toMatchObject({ shardCount: 'auto', shardSpawnDelayMs: 5_500, shard: null });
  });

  it('GIVEN a redis STORE_URL and a key prefix THEN the store location carries both', () => {
    const config = loadConfig(
      { ...minimal, STORE_URL: 'redis://127.0.0.1:6379/2', STORE_KEY_PREFIX: 'staging' },
      '/srv/bot',
    );
    expect(config.store).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6379/2', prefix: 'staging' });
  });

  it('GIVEN a Redis URL with a password THEN the logger is told to scrub it', () => {
    const config = loadConfig({ ...minimal, STORE_URL: 'redis://:s3cret-pass%21@redis.internal:6379' }, '/srv/bot');
    expect(secretsOf(config)).toEqual(
      expect.arrayContaining(['discord-token-value', 'kie-key-value', 's3cret-pass%21', 's3cret-pass!']),
    );
  });

  it('GIVEN the environment the ShardingManager gives a shard THEN config says which shard of how many', () => {
    const config = loadConfig({ ...minimal, SHARDING_MANAGER: 'true', SHARDS: '1', SHARD_COUNT: '2' }, '/srv/bot');
    expect(config.shard).toEqual({ id: 1, count: 2 });
  });

  it('GIVEN a bad SHARD_COUNT or a shard id past the count THEN config refuses with the key', () => {
    expect(() => loadConfig({ ...minimal, SHARD_COUNT: 'lots' }, '/srv/bot')).toThrow(ConfigError);
    expect(() => loadConfig({ ...minimal, SHARD_COUNT: '0' }, '/srv/bot')).toThrow(/SHARD_COUNT/);
    expect(() =>
      loadConfig({ ...minimal, SHARDING_MANAGER: 'true', SHARDS: '2', SHARD_COUNT: '2' }, '/srv/bot'),
    ).toThrow(/SHARDS/);
  });
});

describe('shard ownership', () => {
  it('GIVEN guild ids THEN the shard is (id >> 22) % count, DMs go to shard 0, and one shard keeps plain keys', () => {
    const guild = ((7n << 22n) | 99n).toString();
    expect(shardOfGuild(guild, 2)).toBe(1);
    expect(shardOfGuild(guild, 3)).toBe(1);
    expect(shardOfGuild(guild, 1)).toBe(0);
    expect(shardOfGuild(null, 4)).toBe(0);
    expect(ownsGuild({ id: 0, count: 2 }, null)).toBe(true);
    expect(ownsGuild({ id: 1, count: 2 }, guild)).toBe(true);
    expect(shardKey('index:active', { id: 0, count: 1 })).toBe('index:active');
    expect(shardKey('index:active', { id: 1, count: 2 })).toBe('index:active:1');
  });
});

describe('recommendedShardCount (GET /gateway/bot on the configured base)', () => {
  let agent: MockAgent;

  beforeEach(() => {
    agent = new MockAgent();
    agent.disableNetConnect();
  });

  afterEach(async () => {
    agent.assertNoPendingInterceptors();
    await agent.close();
  });

  it('GIVEN a REST proxy base THEN the count comes from it, with the bot token', async () => {
    agent
      .get('http://proxy.internal')
      .intercept({ path: '/api/v10/gateway/bot', method: 'GET', headers: { authorization: 'Bot t0ken' } })
      .reply(200, {
        url: 'wss://gateway.discord.gg',
        shards: 3,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
      });
    expect(
      await recommendedShardCount({ apiBaseUrl: 'http://proxy.internal/api', token: 't0ken', dispatcher: agent }),
    ).toBe(3);
  });

  it('GIVEN a 401 THEN a GatewayBotError says the token is wrong', async () => {
    agent
      .get('http://proxy.internal')
      .intercept({ path: '/api/v10/gateway/bot', method: 'GET' })
      .reply(401, { code: 0, message: '401: Unauthorized' });
    const failing = recommendedShardCount({ apiBaseUrl: 'http://proxy.internal/api', token: 'bad', dispatcher: agent });
    await expect(failing).rejects.toBeInstanceOf(GatewayBotError);
    await expect(failing).rejects.toMatchObject({
      status: 401,
      message: expect.stringContaining('DISCORD_TOKEN') as unknown,
    });
  });
});

/** Two ends of an in-memory channel that, like Node's IPC, delivers asynchronously. */
function channel(): { manager: IpcPort; shard: IpcPort } {
  const listeners = { manager: new Set<(m: unknown) => void>(), shard: new Set<(m: unknown) => void>() };
  const end = (self: 'manager' | 'shard', other: 'manager' | 'shard'): IpcPort => ({
    send: async (message) => {
      const copy = structuredClone(message);
      setImmediate(() => listeners[other].forEach((l) => l(copy)));
    },
    onMessage(listener) {
      listeners[self].add(listener);
      return () => listeners[self].delete(listener);
    },
  });
  return { manager: end('manager', 'shard'), shard: end('shard', 'manager') };
}

describe('the manager-shard IPC requests', () => {
  it('GIVEN a shard answering THEN each request gets its own answer, and a failure comes back as an error', async () => {
    const { manager, shard } = channel();
    const seen: string[] = [];
    answerManager(
      shard,
      {
        callback: async ({ taskId }) => {
          seen.push(taskId);
          if (taskId === 'boom') throw new Error('nope');
          return 'read';
        },
        probe: async () => ({ store: true, ready: true, lease: true }),
        metrics: async () => [],
      },
      silentLogger,
    );
    const requester = new ShardRequester(1, (m) => manager.send(m), 1_000);
    manager.onMessage((m) => requester.handle(m));
    // discord.js's own messages share the channel and are not ours.
    await shard.send({ _ready: true });
    const [a, b] = await Promise.all([
      requester.request({ op: 'callback', taskId: 'task1', jobId: null }),
      requester.request({ op: 'probe' }),
    ]);
    expect(a).toBe('read');
    expect(b).toEqual({ store: true, ready: true, lease: true });
    await expect(requester.request({ op: 'callback', taskId: 'boom', jobId: 'abc' })).rejects.toMatchObject({
      reason: 'failed',
    });
    expect(seen).toEqual(['task1', 'boom']);
  });

  it('GIVEN a shard that never answers or dies THEN requests time out or fail at once', async () => {
    const { manager } = channel();
    const requester = new ShardRequester(0, (m) => manager.send(m), 50);
    await expect(requester.request({ op: 'probe' })).rejects.toMatchObject({ reason: 'timeout' });
    const pending = requester.request({ op: 'metrics' });
    requester.failAll();
    await expect(pending).rejects.toBeInstanceOf(ShardRequestError);
    await expect(pending).rejects.toMatchObject({ reason: 'gone', shard: 0 });
  });
});
