#!/usr/bin/env node
// Wiring only: config -> logger -> broker -> start -> signals -> close.
import { AdminServer } from '@dispatcher/amqp-broker/admin';
import { closeOnSignal } from '@dispatcher/core';
import { pino } from 'pino';
import { ConfigError, HELP, parseConfig } from './config.js';
import { startBroker } from './start-broker.js';
import { isUserCommand, runUserCommand } from './user-commands.js';

async function main(): Promise<void> {
  const command = process.argv[2];
  if (isUserCommand(command)) {
    try {
      process.stdout.write(await runUserCommand(command, process.argv.slice(3)));
      return;
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`dispatchd ${command}: ${err.message}\n`);
        process.exit(2);
      }
      throw err;
    }
  }
  let parsed: ReturnType<typeof parseConfig>;
  try {
    parsed = parseConfig(process.env, process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`dispatchd: invalid configuration\n${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(HELP);
    return;
  }
  const config = parsed.config;
  // Synchronous writes to stdout: pino's default (asynchronous) destination may still have a line in flight
  // when the process exits, and the exit handler's synchronous flush then writes later lines first (the
  // last lines of a shutdown came out of order) or the in-flight one is lost. Log volume here is low.
  const logger = pino(
    { name: 'dispatchd', level: config.logLevel },
    pino.destination({ dest: 1, sync: true }),
  );
  if (config.configFile !== undefined) logger.info({ configFile: config.configFile }, 'config file read');
  for (const warning of config.warnings) logger.warn(warning);
  if (config.broker.users === undefined) {
    logger.warn(
      'no "users" in the config file: the default guest/guest (loopback only) unless -persist-dir already holds users',
    );
  }

  // Durable definitions and persistent messages live in the persist directory (recovered before the
  // listener opens); the disk alarm watches its file system (RabbitMQ's disk_free_limit).
  const { broker, host } = await startBroker(
    { ...config.broker, persistDir: config.persistDir },
    config.host,
    logger,
  );
  logger.info(
    {
      host,
      port: broker.port,
      ...(config.broker.tls === undefined ? {} : { amqpsPort: broker.tlsPort }),
      strictMode: config.broker.strictFieldTypes,
    },
    'listening',
  );

  let admin: AdminServer | undefined;
  if (config.admin === undefined) logger.info('the management listener is off (-admin-port off)');
  else {
    admin = new AdminServer({
      broker,
      host,
      port: config.admin.port,
      servedHosts: config.admin.servedHosts,
      tls: config.admin.tls,
      prometheusPort: config.admin.prometheusPort,
      logger,
    });
    try {
      await admin.start();
    } catch (err) {
      await broker.close().catch(() => {});
      throw err;
    }
  }

  // The broker first (stop accepting, 320 CONNECTION_FORCED, flush the store), the admin listener last
  // so that it can be watched until the end.
  const close = async () => {
    try {
      await broker.close();
      logger.info('AMQP broker closed');
    } finally {
      await admin?.close();
      if (admin !== undefined) logger.info('management listener closed');
    }
  };
  closeOnSignal({ close, logger });
}

main().catch((err: unknown) => {
  process.stderr.write(`dispatchd: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
