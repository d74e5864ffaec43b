import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { byModel, VEO_MODEL_IDS, VEO_MODELS, type VeoModel } from './lib/models.js';
import { flag, host, httpUrl, optional, originList, required, snowflake, wholeNumber } from './lib/envFields.js';
import { parseRate, type Rate } from './lib/rate.js';
import { parseShardIds } from './lib/shard.js';
import {
  operatorKeys,
  operatorProblems,
  operatorSettings,
  type OperatorSettings,
  type QuotaCeilings,
} from './operatorConfig.js';
import { CONFIG_HINTS, type CostKey, costKey } from './configKeys.js';

export type { CreditPrices, QuotaCeilings } from './operatorConfig.js';

/** Redis keys are `<prefix>:<namespace>::<key>` with a prefix, `<namespace>::<key>` without (prefix ''). */
export type StoreLocation = { kind: 'sqlite'; file: string } | { kind: 'redis'; url: string; prefix: string };

export interface Config extends Omit<OperatorSettings, 'ceilings'> {
  readonly discordToken: string;
  readonly applicationId: string;
  readonly kieApiKey: string;
  readonly kieApiBaseUrl: string;
  readonly kieUploadBaseUrl: string;
  readonly devGuildId: string | undefined;
  readonly discordApiBaseUrl: string;
  readonly store: StoreLocation;
  readonly publicBaseUrl: string | undefined;
  readonly httpPort: number;
  /** The public listener (kie callbacks only) binds here. */
  readonly httpHost: string;
  /** The operator's listener: /healthz, /readyz, /metrics (loopback by default). */
  readonly opsHttpPort: number;
  readonly opsHttpHost: string;
  readonly kieWebhookHmacKey: string | undefined;
  /** Only with PUBLIC_BASE_URL and no HMAC key: the operator chose unsigned callbacks. */
  readonly allowUnsignedCallbacks: boolean;
  /** Origins media fetches may reach although plain http or private (normalised `URL.origin`s). */
  readonly trustedMediaOrigins: readonly string[];
  readonly maxVideoBytes: number;
  /** The store lease's lifetime without renewal (DESIGN §8); renewed every third of it. */
  readonly leaseTtlMs: number;
  /** A store call before an interaction is answered, or for /healthz, gives up after this (DESIGN §3). */
  readonly storeTimeoutMs: number;
  readonly allowDms: boolean;
  readonly defaultModel: VeoModel;
  readonly quota: {
    readonly limit: number;
    readonly windowHours: number;
    readonly costs: Readonly<Record<VeoModel, number>>;
    readonly maxActiveJobs: number;
    readonly ceilings: QuotaCeilings;
  };
  readonly generateRate: Readonly<Rate>;
  readonly pollIntervalMs: number;
  readonly hdPollIntervalMs: number;
  /** 4K re-check period while kie says "processing" (DESIGN §5: 30 s; kie's callback may end it sooner). */
  readonly uhdPollIntervalMs: number;
  readonly maxImageBytes: number;
  readonly deliveryConcurrency: number;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** The bot's shards in total (every process agrees); 'auto' asks our own GET /gateway/bot at start. */
  readonly shardCount: number | 'auto';
  /** The shards this process runs (SHARD_IDS), sorted; 'all' for every one of shardCount. */
  readonly shardIds: readonly number[] | 'all';
}

const costKeys = Object.fromEntries(VEO_MODELS.map((m) => [costKey(m), wholeNumber(m.defaultCost, 1)])) as Record<
  CostKey,
  ReturnType<typeof wholeNumber>
>;

const discordKeys = {
  DISCORD_TOKEN: required,
  DISCORD_APPLICATION_ID: required.pipe(snowflake),
  DEV_GUILD_ID: optional.pipe(snowflake.optional()),
  DISCORD_API_BASE_URL: httpUrl('https://discord.com/api'),
  ALLOW_DMS: flag(false),
};

const schema = z.object({
  ...discordKeys,
  KIE_API_KEY: required,
  KIE_API_BASE_URL: httpUrl('https://api.kie.ai'),
  KIE_UPLOAD_BASE_URL: httpUrl('https://kieai.redpandaai.co'),
  STORE_URL: z
    .string()
    .trim()
    .default('sqlite://data/veo-bot.sqlite')
    .refine((v) => /^(sqlite:\/\/.+|rediss?:\/\/.+)$/.test(v), 'must start with sqlite:// or redis://'),
  STORE_KEY_PREFIX: optional.pipe(
    z
      .string()
      .refine((v) => /^[A-Za-z0-9_.-]{1,64}$/.test(v), 'must be 1 to 64 letters, digits, dots, dashes or underscores')
      .optional(),
  ),
  PUBLIC_BASE_URL: optional.pipe(
    z
      .string()
      .refine((v) => /^https?:\/\/[^\s]+$/.test(v), 'must be an http(s) URL')
      .transform((v) => v.replace(/\/+$/, ''))
      .optional(),
  ),
  HTTP_PORT: wholeNumber(8080, 0, 65535),
  HTTP_HOST: host('0.0.0.0'),
  OPS_HTTP_PORT: wholeNumber(9090, 0, 65535),
  OPS_HTTP_HOST: host('127.0.0.1'),
  KIE_WEBHOOK_HMAC_KEY: optional,
  ALLOW_UNSIGNED_CALLBACKS: flag(false),
  TRUSTED_MEDIA_ORIGINS: originList,
  MAX_VIDEO_BYTES: wholeNumber(104_857_600, 1024),
  LEASE_TTL_MS: wholeNumber(30_000, 300),
  STORE_TIMEOUT_MS: wholeNumber(2_000, 100, 2_500),
  DEFAULT_MODEL: z.enum(VEO_MODEL_IDS).default('veo3_fast'),
  QUOTA_LIMIT: wholeNumber(5, 1),
  QUOTA_WINDOW_HOURS: wholeNumber(24, 1, 24 * 366),
  ...costKeys,
  MAX_ACTIVE_JOBS_PER_USER: wholeNumber(2, 1),
  ...operatorKeys,
  KIE_GENERATE_RATE: z
    .string()
    .default('20/10s')
    .transform((v, ctx) => {
      const rate = parseRate(v);
      if (rate === null)
        ctx.addIssue({ code: 'custom', message: 'must look like 20/10s or 5/1m, both numbers at least 1' });
      return rate ?? z.NEVER;
    }),
  KIE_POLL_INTERVAL_MS: wholeNumber(10_000, 10),
  KIE_HD_POLL_INTERVAL_MS: wholeNumber(20_000, 10),
  KIE_4K_POLL_INTERVAL_MS: wholeNumber(30_000, 10),
  MAX_IMAGE_BYTES: wholeNumber(10_485_760, 1024),
  DELIVERY_CONCURRENCY: wholeNumber(3, 1, 32),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  SHARD_COUNT: z
    .string()
    .trim()
    .toLowerCase()
    .default('auto')
    .refine(
      (v) => v === 'auto' || (/^\d{1,4}$/.test(v) && Number(v) >= 1 && Number(v) <= 4096),
      'must be auto or a whole number from 1 to 4096',
    )
    .transform((v): number | 'auto' => (v === 'auto' ? 'auto' : Number(v))),
  SHARD_IDS: optional.pipe(
    z
      .string()
      .transform((v, ctx) => {
        const ids = parseShardIds(v);
        if (ids === null) ctx.addIssue({ code: 'custom', message: 'must be shard ids such as 0-24, 0,3,5 or 0-3,8' });
        return ids ?? z.NEVER;
      })
      .optional(),
  ),
});

export interface ConfigProblem {
  readonly key: string;
  readonly problem: string;
  readonly hint: string;
}

/** Every bad key at once, so an operator fixes the environment in one pass. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      [
        `Veo Bot cannot start: ${problems.length} configuration problem${problems.length === 1 ? '' : 's'}.`,
        ...problems.map((p) => `  ${p.key} ${p.problem}. Where to get it: ${p.hint}`),
        'Set these in the environment or in a .env file (see .env.example).',
      ].join('\n'),
    );
    this.name = 'ConfigError';
  }
}

type Environment = Readonly<Record<string, string | undefined>>;

function problemsOf(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '?');
    const problem = issue.code === 'invalid_type' ? 'is required' : issue.message;
    return { key, problem, hint: CONFIG_HINTS[key] ?? '' };
  });
}

function parseStoreUrl(url: string, cwd: string, prefix: string | undefined): StoreLocation {
  if (url.startsWith('redis')) return { kind: 'redis', url, prefix: prefix ?? '' };
  const rest = url.slice('sqlite://'.length);
  return { kind: 'sqlite', file: path.isAbsolute(rest) ? rest : path.resolve(cwd, rest) };
}

export function loadConfig(env: Environment, cwd: string = process.cwd()): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(problemsOf(parsed.error));
  const e = parsed.data;
  const costs = byModel((m) => e[costKey(m)]);
  const defaultCost = costs[e.DEFAULT_MODEL];
  const inconsistent = operatorProblems(e, defaultCost);
  if (defaultCost > e.QUOTA_LIMIT) {
    inconsistent.unshift({
      key: 'DEFAULT_MODEL',
      problem: `costs ${defaultCost} units, more than QUOTA_LIMIT (${e.QUOTA_LIMIT}), so no member could ever use it`,
      hint: 'raise QUOTA_LIMIT or choose a cheaper DEFAULT_MODEL',
    });
  }
  inconsistent.push(...unworkable(e), ...shardProblems(e));
  if (inconsistent.length > 0) throw new ConfigError(inconsistent);
  const { ceilings, ...operator } = operatorSettings(e);
  return Object.freeze({
    discordToken: e.DISCORD_TOKEN,
    applicationId: e.DISCORD_APPLICATION_ID,
    kieApiKey: e.KIE_API_KEY,
    kieApiBaseUrl: e.KIE_API_BASE_URL,
    kieUploadBaseUrl: e.KIE_UPLOAD_BASE_URL,
    devGuildId: e.DEV_GUILD_ID,
    discordApiBaseUrl: e.DISCORD_API_BASE_URL,
    store: parseStoreUrl(e.STORE_URL, cwd, e.STORE_KEY_PREFIX),
    publicBaseUrl: e.PUBLIC_BASE_URL,
    httpPort: e.HTTP_PORT,
    httpHost: e.HTTP_HOST,
    opsHttpPort: e.OPS_HTTP_PORT,
    opsHttpHost: e.OPS_HTTP_HOST,
    kieWebhookHmacKey: e.KIE_WEBHOOK_HMAC_KEY,
    allowUnsignedCallbacks: e.ALLOW_UNSIGNED_CALLBACKS,
    trustedMediaOrigins: Object.freeze([...e.TRUSTED_MEDIA_ORIGINS]),
    maxVideoBytes: e.MAX_VIDEO_BYTES,
    leaseTtlMs: e.LEASE_TTL_MS,
    storeTimeoutMs: e.STORE_TIMEOUT_MS,
    allowDms: e.ALLOW_DMS,
    defaultModel: e.DEFAULT_MODEL,
    quota: {
      limit: e.QUOTA_LIMIT,
      windowHours: e.QUOTA_WINDOW_HOURS,
      costs,
      maxActiveJobs: e.MAX_ACTIVE_JOBS_PER_USER,
      ceilings,
    },
    ...operator,
    generateRate: e.KIE_GENERATE_RATE,
    pollIntervalMs: e.KIE_POLL_INTERVAL_MS,
    hdPollIntervalMs: e.KIE_HD_POLL_INTERVAL_MS,
    uhdPollIntervalMs: e.KIE_4K_POLL_INTERVAL_MS,
    maxImageBytes: e.MAX_IMAGE_BYTES,
    deliveryConcurrency: e.DELIVERY_CONCURRENCY,
    logLevel: e.LOG_LEVEL,
    shardCount: e.SHARD_COUNT,
    shardIds: shardIdsOf(e.SHARD_IDS, e.SHARD_COUNT),
  });
}

/** Settings that parse but can never be right together, refused before anything starts. */
function unworkable(e: z.infer<typeof schema>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  // ?job= is outside kie's signature: unsigned callbacks from the internet could name any job (DESIGN §6).
  if (e.PUBLIC_BASE_URL !== undefined && e.KIE_WEBHOOK_HMAC_KEY === undefined && !e.ALLOW_UNSIGNED_CALLBACKS) {
    problems.push({
      key: 'KIE_WEBHOOK_HMAC_KEY',
      problem: 'is required when PUBLIC_BASE_URL is set, so that only kie can call back',
      hint: `${CONFIG_HINTS.KIE_WEBHOOK_HMAC_KEY ?? ''}; or set ALLOW_UNSIGNED_CALLBACKS=true to accept unsigned callbacks`,
    });
  }
  if (e.OPS_HTTP_PORT !== 0 && e.OPS_HTTP_PORT === e.HTTP_PORT) {
    problems.push({
      key: 'OPS_HTTP_PORT',
      problem: `is the same port as HTTP_PORT (${e.HTTP_PORT}); the operator's endpoints need their own listener`,
      hint: CONFIG_HINTS.OPS_HTTP_PORT ?? '',
    });
  }
  return problems;
}

/** SHARD_IDS naming every shard is the same as leaving it unset. */
function shardIdsOf(ids: readonly number[] | undefined, count: number | 'auto'): readonly number[] | 'all' {
  if (ids === undefined || (count !== 'auto' && ids.length === count)) return 'all';
  return Object.freeze([...ids]);
}

/** A shard range that cannot work: past the count, beside `auto`, or short of all on SQLite (DESIGN §3). */
function shardProblems(e: z.infer<typeof schema>): ConfigProblem[] {
  const ids = e.SHARD_IDS;
  if (ids === undefined) return [];
  const hint = CONFIG_HINTS.SHARD_IDS ?? '';
  if (e.SHARD_COUNT === 'auto') {
    return [
      {
        key: 'SHARD_IDS',
        problem: 'needs a fixed SHARD_COUNT (every process of the bot must agree on the count), not auto',
        hint: `set SHARD_COUNT to the total, e.g. SHARD_COUNT=100 SHARD_IDS=0-24`,
      },
    ];
  }
  const count = e.SHARD_COUNT;
  const past = ids.filter((id) => id >= count);
  if (past.length > 0) {
    return [
      {
        key: 'SHARD_IDS',
        problem: `names shard ${String(past[0])}, but SHARD_COUNT=${String(count)} has shards 0 to ${String(count - 1)}`,
        hint,
      },
    ];
  }
  if (ids.length < count && !/^rediss?:/.test(e.STORE_URL)) {
    return [
      {
        key: 'SHARD_IDS',
        problem: `runs ${String(ids.length)} of ${String(count)} shards, which needs STORE_URL=redis://… shared by every process (SQLite serves one process, which runs every shard)`,
        hint: 'set STORE_URL=redis://host:6379 on every process, or leave SHARD_IDS unset to run all shards here',
      },
    ];
  }
  return [];
}

export interface DeployConfig {
  readonly discordToken: string;
  readonly applicationId: string;
  readonly devGuildId: string | undefined;
  readonly discordApiBaseUrl: string;
  readonly allowDms: boolean;
}

const deploySchema = z.object(discordKeys);

/** deploy-commands needs only the Discord keys; it should not demand a kie key. */
export function loadDeployConfig(env: Environment): DeployConfig {
  const parsed = deploySchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(problemsOf(parsed.error));
  return Object.freeze({
    discordToken: parsed.data.DISCORD_TOKEN,
    applicationId: parsed.data.DISCORD_APPLICATION_ID,
    devGuildId: parsed.data.DEV_GUILD_ID,
    discordApiBaseUrl: parsed.data.DISCORD_API_BASE_URL,
    allowDms: parsed.data.ALLOW_DMS,
  });
}

/** Values the logger scrubs wherever they appear: the tokens and keys, and a Redis password in STORE_URL. */
export function secretsOf(config: Config): string[] {
  const secrets = [config.discordToken, config.kieApiKey];
  if (config.kieWebhookHmacKey) secrets.push(config.kieWebhookHmacKey);
  if (config.store.kind === 'redis') {
    try {
      const { password } = new URL(config.store.url);
      if (password) secrets.push(password, decodeURIComponent(password));
    } catch {
      // Not a parseable URL: @keyv/redis will say so, and there is no password to find.
    }
  }
  return secrets;
}

/** The process environment, with a .env file beneath it when one exists; real variables win. */
export function readEnvironment(cwd: string = process.cwd()): Environment {
  const file = path.join(cwd, '.env');
  const fromFile = existsSync(file) ? parseEnv(readFileSync(file, 'utf8')) : {};
  const environment = { ...fromFile, ...process.env };
  // discord.js's Client reads SHARD_COUNT (and SHARDS) from process.env by itself, and throws on our
  // `auto`; they are ours, so they are taken out, and the Client gets its shard options from Config.
  delete process.env.SHARD_COUNT;
  delete process.env.SHARDS;
  return environment;
}

/** How an entry point starts: a configuration that can never work is printed, without a stack, and exit 1. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig(readEnvironment());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}
