import { createHash } from 'node:crypto';
import type { Logger } from '../../logger.js';
import type { ScriptHost, Stores } from '../runtime/store.js';
import { HOUR_MS } from './ledger.js';
import {
  KeyvSharedLedger,
  SHARED_WINDOW_MS,
  type OpenSpend,
  type SharedLedger,
  type SharedReservation,
  type SharedUsage,
  type Spend,
} from './shared.js';

/** What the ledger needs of a node-redis client (the one @keyv/redis connected). */
export type RedisScripting = Pick<ScriptHost, 'evalSha' | 'eval'>;

// An open spend is one field of the family's open hash: id -> "sub|amount|at|state|owner".
const PARSE = `local function parse(v)
  local sub, amount, at, state, owner = string.match(v, '^([^|]*)|(%d+)|(%d+)|(%a+)|(.*)$')
  return sub, tonumber(amount), tonumber(at), state, owner
end
local function hourEnd(at, hour) return math.floor(at / hour) * hour + hour end
`;

// KEYS: hours hash of the sub-ledger, open hash of the family. ARGV: id, amount, cap (-1: none), now,
// hour, window, sub, owner. Returns {granted, used, retryAt (-1: never)}.
const RESERVE = `${PARSE}
local id, amount, cap, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local hour, window = tonumber(ARGV[5]), tonumber(ARGV[6])
local flat = redis.call('HGETALL', KEYS[1])
local used, tallies = 0, {}
for i = 1, #flat, 2 do
  local at, units = tonumber(flat[i]), tonumber(flat[i + 1])
  if at + window > now then
    used = used + units
    tallies[#tallies + 1] = { at, units }
  else
    redis.call('HDEL', KEYS[1], flat[i])
  end
end
if redis.call('HEXISTS', KEYS[2], id) == 1 then return { 1, used, -1 } end
if cap >= 0 and used + amount > cap then
  local retry = -1
  if amount <= cap then
    table.sort(tallies, function(a, b) return a[1] < b[1] end)
    local excess = used + amount - cap
    for _, t in ipairs(tallies) do
      excess = excess - t[2]
      if excess <= 0 then retry = t[1] + window break end
    end
  end
  return { 0, used, retry }
end
redis.call('HINCRBY', KEYS[1], string.format('%d', hourEnd(now, hour)), amount)
redis.call('PEXPIRE', KEYS[1], window + 2 * hour)
redis.call('HSET', KEYS[2], id, ARGV[7] .. '|' .. string.format('%d', amount) .. '|' .. string.format('%d', now) .. '|held|' .. ARGV[8])
return { 1, used + amount, -1 }
`;

// KEYS: open hash. ARGV: id, close ('1' or '0'). Returns 1 when it changed anything.
const COMMIT = `${PARSE}
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
if ARGV[2] == '1' then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end
local sub, amount, at, state, owner = parse(v)
if state ~= 'held' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], sub .. '|' .. string.format('%d', amount) .. '|' .. string.format('%d', at) .. '|spent|' .. owner)
return 1
`;

// KEYS: hours hash of the spend's sub-ledger, open hash. ARGV: id, now, hour, window. Returns 1 when refunded.
const REFUND = `${PARSE}
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
local sub, amount, at = parse(v)
local now, hour, window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local bucket = hourEnd(at, hour)
if bucket + window > now then
  local field = string.format('%d', bucket)
  if redis.call('HINCRBY', KEYS[1], field, -amount) <= 0 then redis.call('HDEL', KEYS[1], field) end
end
return 1
`;

// KEYS: hours hash, open hash. ARGV: sub, now, window, hour. Returns {used, held, nextFreeAt (-1: none)}.
const USAGE = `${PARSE}
local now, window, hour = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local flat = redis.call('HGETALL', KEYS[1])
local used, oldest = 0, -1
for i = 1, #flat, 2 do
  local at, units = tonumber(flat[i]), tonumber(flat[i + 1])
  if at + window > now and units > 0 then
    used = used + units
    if oldest < 0 or at < oldest then oldest = at end
  end
end
local held = 0
local open = redis.call('HVALS', KEYS[2])
for _, v in ipairs(open) do
  local sub, amount, at, state = parse(v)
  if sub == ARGV[1] and state == 'held' and hourEnd(at, hour) + window > now then held = held + amount end
end
return { used, held, oldest < 0 and -1 or oldest + window }
`;

class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

const SCRIPTS = {
  reserve: new Script(RESERVE),
  commit: new Script(COMMIT),
  refund: new Script(REFUND),
  usage: new Script(USAGE),
  open: new Script("return redis.call('HGETALL', KEYS[1])"),
};

function numbers(reply: unknown, count: number): number[] {
  if (!Array.isArray(reply) || reply.length !== count || !reply.every((n) => typeof n === 'number'))
    throw new Error('unexpected reply from a shared-ledger script');
  return reply;
}

/**
 * The Redis form, for several processes on one Redis: each operation is one Lua script, so one round
 * trip and atomic. Keys share one hash tag per family (`<ns>::{<family>}:…`), so they sit in one slot.
 */
export class RedisSharedLedger implements SharedLedger {
  readonly #client: RedisScripting;
  readonly #base: string;

  /** `namespace` is the quota namespace's Redis prefix, e.g. `quota` or `<STORE_KEY_PREFIX>:quota`. */
  constructor(client: RedisScripting, namespace: string, family: string) {
    this.#client = client;
    this.#base = `${namespace}::{${family}}`;
  }

  #hours(sub: string): string {
    return `${this.#base}:h:${sub}`;
  }

  get #open(): string {
    return `${this.#base}:open`;
  }

  /** EVALSHA, loading the script on the first NOSCRIPT (a new or flushed Redis). */
  async #run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    const options = { keys, arguments: args };
    try {
      return await this.#client.evalSha(script.sha, options);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.#client.eval(script.source, options);
    }
  }

  async reserve(sub: string, spend: Spend, cap: number | null, now: number): Promise<SharedReservation> {
    const [granted = 0, used = 0, retryAt = -1] = numbers(
      await this.#run(
        SCRIPTS.reserve,
        [this.#hours(sub), this.#open],
        [
          spend.id,
          String(spend.amount),
          String(cap ?? -1),
          String(now),
          String(HOUR_MS),
          String(SHARED_WINDOW_MS),
          sub,
          spend.owner ?? '',
        ],
      ),
      3,
    );
    return granted === 1 ? { ok: true, used } : { ok: false, used, retryAt: retryAt < 0 ? null : retryAt };
  }

  async commit(_sub: string, id: string, _now: number, close = false): Promise<boolean> {
    return (await this.#run(SCRIPTS.commit, [this.#open], [id, close ? '1' : '0'])) === 1;
  }

  async refund(sub: string, id: string, now: number): Promise<boolean> {
    const args = [id, String(now), String(HOUR_MS), String(SHARED_WINDOW_MS)];
    return (await this.#run(SCRIPTS.refund, [this.#hours(sub), this.#open], args)) === 1;
  }

  close(sub: string, id: string, now: number): Promise<boolean> {
    return this.commit(sub, id, now, true);
  }

  async usage(sub: string, now: number): Promise<SharedUsage> {
    const reply = await this.#run(
      SCRIPTS.usage,
      [this.#hours(sub), this.#open],
      [sub, String(now), String(SHARED_WINDOW_MS), String(HOUR_MS)],
    );
    const [used = 0, held = 0, nextFreeAt = -1] = numbers(reply, 3);
    return { used, held, nextFreeAt: nextFreeAt < 0 ? null : nextFreeAt };
  }

  async open(): Promise<OpenSpend[]> {
    const reply = await this.#run(SCRIPTS.open, [this.#open], []);
    if (!Array.isArray(reply)) throw new Error('unexpected reply from a shared-ledger script');
    const found: OpenSpend[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const id: unknown = reply[i];
      const value: unknown = reply[i + 1];
      const match = typeof value === 'string' ? /^([^|]*)\|(\d+)\|(\d+)\|(held|spent)\|(.*)$/.exec(value) : null;
      if (typeof id !== 'string' || !match) continue;
      const [, sub = '', amount = '0', at = '0', state = 'held', owner = ''] = match;
      found.push({
        id,
        sub,
        amount: Number(amount),
        at: Number(at),
        state: state as 'held' | 'spent',
        owner: owner || null,
      });
    }
    return found;
  }
}

/**
 * The shared ledger of `family` on the store behind the quota namespace: Lua scripts on its Redis
 * connection (several processes), the in-process lock on SQLite (one process per store).
 */
export function sharedLedgerOn(
  stores: Pick<Stores, 'quota' | 'scripts'>,
  family: string,
  logger: Logger,
): SharedLedger {
  const scripts = stores.scripts?.('quota');
  if (!scripts) return new KeyvSharedLedger(family, stores.quota, logger);
  return new RedisSharedLedger(scripts, scripts.namespace, family);
}
