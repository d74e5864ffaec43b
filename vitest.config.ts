import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Starts a throwaway redis-server unless TEST_REDIS_URL names one (.ci/run starts its own).
    globalSetup: ['test/redisSetup.ts'],
  },
});
