import KeyvRedis, { createClient, defaultReconnectStrategy } from '@keyv/redis';
import type Keyv from 'keyv';
import { RedisLeases } from './redisLeases.js';
import type { Backend, Namespace, ScriptHost } from './store.js';

/**
 * Redis (`@keyv/redis`): each namespace its own adapter and connection, keys `<namespace>::<key>` (or
 * `<prefix>:<namespace>::<key>`), so iterator() of one namespace never sees another's keys. Every
 * command is atomic on its own but Keyv does no compare-and-set: a value that two processes
 * read-modify-write can lose a write, which is why each guild's values belong to one shard (DESIGN §8).
 */
export function openRedis(url: string, keyvs: Readonly<Record<Namespace, Keyv>>, timeoutMs: number): Backend {
  // No offline queue: while Redis is away a command fails at once (the caller retries or tells the
  // member) instead of waiting for the reconnection; a stalled Redis is bounded by the store timeout.
  const newClient = () =>
    createClient({
      url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: defaultReconnectStrategy },
    });
  const open = (keyv: Keyv) => {
    const client = newClient();
    const adapter = new KeyvRedis<unknown>(client, {
      namespace: keyv.namespace ?? '',
      throwOnErrors: true,
      throwOnConnectError: true,
      connectionTimeout: 10_000,
    });
    keyv.store = adapter;
    return { client, adapter };
  };
  const opened = {
    jobs: open(keyvs.jobs),
    quota: open(keyvs.quota),
    guilds: open(keyvs.guilds),
    members: open(keyvs.members),
    leases: open(keyvs.leases),
  };
  const adapters = Object.values(opened).map((o) => o.adapter);
  const leases = opened.leases;
  // Connect every namespace now, so an unreachable Redis fails the start instead of the first command.
  const ready = Promise.all(adapters.map((a) => a.getClient())).then(() => undefined);
  return {
    ready,
    atomicLeases: new RedisLeases(
      async () => {
        await leases.adapter.getClient();
        return leases.client;
      },
      (key) => leases.adapter.createKeyPrefix(key, leases.adapter.namespace),
      timeoutMs,
    ),
    scripts: (namespace): ScriptHost => {
      const { adapter } = opened[namespace];
      return {
        namespace: adapter.namespace ?? '',
        evalSha: async (sha1, options) => (await adapter.getClient()).evalSha(sha1, options),
        eval: async (script, options) => (await adapter.getClient()).eval(script, options),
      };
    },
    async connectBus(onError) {
      const client = newClient();
      client.on('error', onError);
      await client.connect();
      return client;
    },
    async close() {
      await Promise.all(adapters.map((a) => a.disconnect()));
    },
  };
}
