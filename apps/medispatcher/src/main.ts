#!/usr/bin/env node
// Wiring only: config -> logger -> gateway services -> start -> signals -> close.
import { closeOnSignal } from '@dispatcher/core';
import { pino } from 'pino';
import { versionText } from './build-info.js';
import { ConfigError, HELP, parseArgs } from './config.js';
import { startGateway } from './start-gateway.js';

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`medispatcher: invalid configuration\n${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(versionText());
    return;
  }
  const { config } = parsed;
  // Synchronous writes to stdout: pino's default (asynchronous) destination may still have a line in flight
  // when the process exits, and the exit handler's synchronous flush then writes later lines first (the
  // last lines of a shutdown came out of order) or the in-flight one is lost. Log volume here is low, and
  // DATA records written to stdout below interleave with these in order.
  const logger = pino(
    { name: 'medispatcher', level: config.file.LogLevel },
    pino.destination({ dest: 1, sync: true }),
  );
  // DATA records must survive a crash: written synchronously, to LOG_DIR/data.log when LOG_DIR is set.
  const dataDestination = config.file.LOG_DIR
    ? pino.destination({
        dest: `${config.file.LOG_DIR.replace(/\/$/, '')}/data.log`,
        sync: true,
        mkdir: true,
      })
    : pino.destination({ dest: 1, sync: true });
  const dataLog = pino({ name: 'medispatcher', base: { log: 'DATA' } }, dataDestination);
  logger.info(
    {
      configFile: config.configFile,
      subscriptionSource: config.subscriptionSource,
      queueServers: config.file.QueueServerAddr,
    },
    'starting',
  );

  const gateway = await startGateway(config, logger, dataLog);
  logger.info({ mainTube: config.file.NameOfMainQueue }, 'running');

  closeOnSignal({ close: () => gateway.close(), logger });
}

main().catch((err: unknown) => {
  process.stderr.write(`medispatcher: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
