import { buildBot } from './bot.js';
import { loadConfigOrExit } from './config.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  let shuttingDown = false;
  const shutdown = (reason: string, code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    bot.logger.info({ reason }, 'shutting down');
    // Whatever happens, the process is gone within 10 s (a supervisor may SIGKILL soon after).
    setTimeout(() => process.exit(code === 0 ? 1 : code), 10_000).unref();
    bot
      .stop()
      .then(() => process.exit(code))
      .catch((error: unknown) => {
        bot.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  const bot = buildBot(config, { onLeaseLost: () => shutdown('store lease lost', 1) });
  process.once('SIGTERM', () => shutdown('SIGTERM', 0));
  process.once('SIGINT', () => shutdown('SIGINT', 0));
  await bot.start();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : 'startup failed');
  process.exit(1);
});
