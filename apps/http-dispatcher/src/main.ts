#!/usr/bin/env node
// Wiring only: config -> logger -> proxy -> start -> signals -> close.
import { closeOnSignal } from '@dispatcher/core';
import { HttpProxy, migratePostgres } from '@dispatcher/http-proxy';
import { pino } from 'pino';
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
  // Synchronous writes to stdout: pino's default (asynchronous) destination may still have a line in flight
  // when the process exits, and the exit handler's synchronous flush then writes later lines first (the
  // last lines of a shutdown came out of order) or the in-flight one is lost. Log volume here is low.
  const logger = pino(
    { name: 'http-dispatcher', level: parsed.config.logLevel },
    pino.destination({ dest: 1, sync: true }),
  );
  if (parsed.command === 'migrate') {
    const url = parsed.config.proxy.postgres?.connectionString as string;
    const applied = await migratePostgres(url, logger);
    logger.info({ applied }, applied.length > 0 ? 'schema migrated' : 'schema up to date');
    return;
  }
  const proxy = new HttpProxy({ ...parsed.config.proxy, logger });
  await proxy.start();
  closeOnSignal({ close: () => proxy.close(), logger });
}

main().catch((err: unknown) => {
  // A coded error (e.g. DSP_PROXY_SCHEMA_TOO_NEW) names its code, for operators and scripts.
  const code = (err as { code?: unknown }).code;
  const text = err instanceof Error ? err.message : String(err);
  process.stderr.write(`http-dispatcher: ${typeof code === 'string' ? `${code}: ` : ''}${text}\n`);
  process.exit(1);
});
