import { withDeadline } from '../../lib/deadline.js';
import type { AtomicLeases, LeaseHolder } from './lease.js';

/** The two node-redis commands the lease needs. */
export interface LeaseCommands {
  set(
    key: string,
    value: string,
    options: { condition: 'NX'; expiration: { type: 'PX'; value: number } },
  ): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/**
 * Sets the key when it is absent or holds the lease of ARGV[3]. Values are stored as Keyv stores them
 * (`{"value": …}`), so the `leases` namespace still reads them.
 */
const SWAP = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, stored = pcall(cjson.decode, current)
  if not ok or type(stored) ~= 'table' or type(stored.value) ~= 'table' or stored.value.id ~= ARGV[3] then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

const REMOVE = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, stored = pcall(cjson.decode, current)
if ok and type(stored) == 'table' and type(stored.value) == 'table' and stored.value.id == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** DESIGN §8 on Redis: the lease is taken with `SET NX PX`, renewed and released by compare-and-set. */
export class RedisLeases implements AtomicLeases {
  constructor(
    private readonly client: () => Promise<LeaseCommands>,
    /** The Redis key of a lease key in the `leases` namespace (what the Keyv adapter uses). */
    private readonly keyOf: (key: string) => string,
    /** STORE_TIMEOUT_MS: a command written to a stalled Redis is never given up by node-redis itself. */
    private readonly timeoutMs: number,
  ) {}

  swap(key: string, expectedId: string | null, next: LeaseHolder, ttlMs: number): Promise<boolean> {
    return withDeadline(this.#swap(key, expectedId, next, ttlMs), this.timeoutMs);
  }

  remove(key: string, id: string): Promise<void> {
    return withDeadline(this.#remove(key, id), this.timeoutMs);
  }

  async #swap(key: string, expectedId: string | null, next: LeaseHolder, ttlMs: number): Promise<boolean> {
    const client = await this.client();
    const value = JSON.stringify({ value: next });
    if (expectedId === null) {
      const reply = await client.set(this.keyOf(key), value, {
        condition: 'NX',
        expiration: { type: 'PX', value: ttlMs },
      });
      return reply === 'OK';
    }
    const reply = await client.eval(SWAP, { keys: [this.keyOf(key)], arguments: [value, String(ttlMs), expectedId] });
    return reply === 1;
  }

  async #remove(key: string, id: string): Promise<void> {
    const client = await this.client();
    await client.eval(REMOVE, { keys: [this.keyOf(key)], arguments: [id] });
  }
}
