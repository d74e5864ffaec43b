import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // As npm start does: the bot's guilds-and-threads cache is deliberate (src/lib/clientCache.ts).
    execArgv: ['--disable-warning=UnsupportedCacheOverwriteWarning'],
    // Starts a throwaway redis-server unless TEST_REDIS_URL names one (.ci/run starts its own).
    globalSetup: ['test/redisSetup.ts'],
  },
});
