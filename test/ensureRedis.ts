/**
 * The first step of `npm test`: make sure the Redis-backed tests will have a Redis. TEST_REDIS_URL, or a
 * redis-server on PATH (test/redisSetup.ts starts a throwaway one), is enough. Otherwise, as root on a
 * Debian or Ubuntu machine, install Debian's redis-server; anywhere else stop at once with one line
 * saying how to get it, rather than after the build and lint.
 */
import { spawnSync } from 'node:child_process';
import { executableOnPath, redisServerOnPath } from './helpers/redisServer.js';

const HOW_TO_GET_IT =
  'npm test needs redis-server for its Redis tests: install it (Debian/Ubuntu: sudo apt-get install redis-server; ' +
  'macOS: brew install redis) or set TEST_REDIS_URL=redis://127.0.0.1:<port> to a Redis the tests may write to.';

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

function run(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0;
}

function main(): void {
  if (process.env.TEST_REDIS_URL?.trim()) return;
  if (redisServerOnPath() !== null) return;
  const aptGet = executableOnPath('apt-get');
  if (process.getuid?.() !== 0 || aptGet === null) fail(HOW_TO_GET_IT);

  process.stdout.write('redis-server is not installed: installing Debian’s redis-server for the Redis tests\n');
  if (!run(aptGet, ['update']) || !run(aptGet, ['install', '-y', '--no-install-recommends', 'redis-server']))
    fail(`apt-get could not install redis-server (see above). ${HOW_TO_GET_IT}`);
  if (redisServerOnPath() === null) fail(`apt-get installed redis-server but it is not on PATH. ${HOW_TO_GET_IT}`);
}

main();
