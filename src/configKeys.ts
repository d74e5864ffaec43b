import { VEO_MODEL_IDS, VEO_MODELS, type VeoModelInfo } from './lib/models.js';
import { OPERATOR_HINTS } from './operatorConfig.js';

/** Where an operator finds each value; printed beside the key when it is missing or wrong. */
export const CONFIG_HINTS: Readonly<Record<string, string>> = {
  DISCORD_TOKEN: 'Discord Developer Portal > your application > Bot > Reset Token',
  DISCORD_APPLICATION_ID: 'Discord Developer Portal > your application > General Information > Application ID',
  KIE_API_KEY: 'https://kie.ai/api-key (sent as Authorization: Bearer)',
  KIE_API_BASE_URL: 'an http(s) origin; the default https://api.kie.ai is right for production',
  KIE_UPLOAD_BASE_URL: 'an http(s) origin; the default https://kieai.redpandaai.co is right for production',
  DEV_GUILD_ID: 'a server id (Discord: Developer Mode on, right-click the server > Copy Server ID)',
  DISCORD_API_BASE_URL: 'an http(s) URL ending in /api; the default https://discord.com/api is right for production',
  STORE_URL: 'sqlite://relative/path.sqlite, sqlite:///absolute/path.sqlite or redis://host:port',
  STORE_KEY_PREFIX: 'letters, digits, dot, dash or underscore (at most 64), e.g. staging',
  PUBLIC_BASE_URL: 'the public https origin that reaches HTTP_PORT, for kie callbacks',
  HTTP_PORT: 'a TCP port from 0 to 65535',
  HTTP_HOST: 'an address to bind, e.g. 0.0.0.0 (every interface) or 127.0.0.1 behind a reverse proxy',
  OPS_HTTP_PORT: 'a TCP port from 0 to 65535, other than HTTP_PORT',
  OPS_HTTP_HOST: 'an address to bind; the default 127.0.0.1 keeps /metrics and the probes off the internet',
  KIE_WEBHOOK_HMAC_KEY: 'https://kie.ai/settings > Webhook HMAC key',
  ALLOW_UNSIGNED_CALLBACKS: 'true or false',
  TRUSTED_MEDIA_ORIGINS: 'comma-separated http(s) origins without a path, e.g. http://127.0.0.1:4010',
  MAX_VIDEO_BYTES: 'bytes, at least 1024',
  LEASE_TTL_MS: 'milliseconds, at least 300; the default 30000 is right for production',
  STORE_TIMEOUT_MS:
    'milliseconds from 100 to 2500 (Discord waits 3 s for an answer); the default 2000 suits most stores',
  ALLOW_DMS: 'true or false',
  DEFAULT_MODEL: `one of ${VEO_MODEL_IDS.join(', ')}`,
  QUOTA_LIMIT: 'a whole number of units, at least 1',
  QUOTA_WINDOW_HOURS: 'a whole number of hours, at least 1',
  ...Object.fromEntries(VEO_MODELS.map((m) => [costKey(m), 'a whole number of units, at least 1'])),
  MAX_ACTIVE_JOBS_PER_USER: 'a whole number, at least 1',
  KIE_GENERATE_RATE: 'N/Ms or N/Mm, for example 20/10s',
  KIE_POLL_INTERVAL_MS: 'milliseconds, at least 10',
  KIE_HD_POLL_INTERVAL_MS: 'milliseconds, at least 10',
  KIE_4K_POLL_INTERVAL_MS: 'milliseconds, at least 10',
  MAX_IMAGE_BYTES: 'bytes, at least 1024',
  DELIVERY_CONCURRENCY: 'a whole number from 1 to 32',
  LOG_LEVEL: 'trace, debug, info, warn, error, fatal or silent',
  SHARD_COUNT: 'auto (Discord recommends a count) or a whole number from 1 to 4096',
  SHARD_IDS: 'shard ids of SHARD_COUNT this process runs, e.g. 0-24 or 0,3,5 (unset: all of them)',
  ...OPERATOR_HINTS,
};

export type CostKey = `QUOTA_COST_${Uppercase<VeoModelInfo['short']>}`;

/** The variable that sets what one video of the model costs. */
export function costKey(model: VeoModelInfo): CostKey {
  return `QUOTA_COST_${model.short.toUpperCase()}` as CostKey;
}
