import { request, type Dispatcher } from 'undici';
import { z } from 'zod';

export interface GatewayBotOptions {
  /** DISCORD_API_BASE_URL, ending in /api (a REST proxy, or a loopback server in tests). */
  readonly apiBaseUrl: string;
  readonly token: string;
  readonly timeoutMs?: number;
  readonly dispatcher?: Dispatcher;
}

const gatewayBotSchema = z.looseObject({ shards: z.number().int().min(1).max(4096) });

export class GatewayBotError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = 'GatewayBotError';
  }
}

/**
 * The shard count Discord recommends, from our own `GET {DISCORD_API_BASE_URL}/v10/gateway/bot`:
 * discord.js's `totalShards: 'auto'` asks discord.com directly and ignores a configured REST base
 * (DESIGN §8). Not retried: the manager is starting, and a supervisor restarts it.
 */
export async function recommendedShardCount(options: GatewayBotOptions): Promise<number> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(`${options.apiBaseUrl}/v10/gateway/bot`, {
      method: 'GET',
      headers: { authorization: `Bot ${options.token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
  } catch (error) {
    throw new GatewayBotError(
      `GET /gateway/bot failed: ${error instanceof Error ? error.name : 'network error'}`,
      null,
    );
  }
  const text = await res.body.text();
  if (res.statusCode !== 200) {
    const hint = res.statusCode === 401 ? ' (DISCORD_TOKEN is wrong)' : '';
    throw new GatewayBotError(`GET /gateway/bot answered ${String(res.statusCode)}${hint}`, res.statusCode);
  }
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    throw new GatewayBotError('GET /gateway/bot answered something other than JSON', res.statusCode);
  }
  const parsed = gatewayBotSchema.safeParse(body);
  if (!parsed.success) throw new GatewayBotError('GET /gateway/bot gave no usable shard count', res.statusCode);
  return parsed.data.shards;
}
