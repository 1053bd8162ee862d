#!/usr/bin/env node
import { pino } from 'pino';
import { startApp } from './app.js';
import { ConfigError, HELP, parseConfig } from './config.js';

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseConfig>;
  try {
    parsed = parseConfig(process.env, process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`http-dispatcher: invalid configuration\n${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(HELP);
    return;
  }
  const logger = pino({ name: 'http-dispatcher' });
  const app = await startApp(parsed.config, logger);
  const shutdown = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`http-dispatcher: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
