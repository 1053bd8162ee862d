import {
  BeanstalkPool,
  MysqlFailureLog,
  MysqlSubscriptionSource,
  PushService,
  RecoverWatcher,
  RedisSubscriptionSource,
  Redistributor,
  type SubscriptionDefaults,
  type SubscriptionSource,
  UndiciPushTransport,
} from '@dispatcher/push-gateway';
import { Redis } from 'ioredis';
import { createPool, type Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import type { MedispatcherConfig } from './config.js';
import { type RunningControlPlane, startControlPlane } from './start-control-plane.js';

/** The running gateway; `close()` stops intake and releases everything in reverse order. */
export interface RunningGateway {
  readonly push: PushService;
  readonly source: SubscriptionSource;
  readonly control: RunningControlPlane;
  close(): Promise<void>;
}

/** Subscription defaults from the original TOML keys. */
export function subscriptionDefaults(config: MedispatcherConfig): SubscriptionDefaults {
  const f = config.file;
  return {
    sendersPerChannel: f.SendersPerChannel,
    maxSendersPerChannel: f.MaxSendersPerChannel,
    sendersPerRetryChannel: f.SendersPerRetryChannel,
    maxSendersPerRetryChannel: f.MaxSendersPerRetryChannel,
    intervalMs: f.IntervalOfSendingForSendRoutine,
    timeoutMs: f.DefaultMaxMessageProcessTime,
    maxTimeoutMs: f.MaxMessageProcessTime,
    maxRetries: f.MaxRetryTimesOfSendingMessage,
    retryCoefficientSec: f.CoeOfIntervalForRetrySendingMsg,
    alarmIntervalSec: 180,
    errorWindowSec: 180,
    messageFailureThreshold: 7,
    subscriptionFailureThreshold: 120,
    backlogThreshold: 5_000,
  };
}

/** Wires config → Redis, beanstalkd pool, subscription source → push, redistribution, recovery. */
export async function startGateway(
  config: MedispatcherConfig,
  logger: Logger,
  dataLog: Logger,
): Promise<RunningGateway> {
  const f = config.file;
  const [redisHost, redisPort] = f.Redis.Addr.split(':');
  const redis = new Redis({
    host: redisHost || '127.0.0.1',
    port: Number(redisPort ?? 6379),
    db: f.Redis.DbIndex,
    ...(f.Redis.Password ? { password: f.Redis.Password } : {}),
    maxRetriesPerRequest: 2,
    lazyConnect: true,
  });
  redis.on('error', (err) => logger.warn({ err }, 'redis error'));
  await redis.connect();
  const pool = new BeanstalkPool({ addresses: f.QueueServerAddr, logger });
  await pool.connect();

  let mysql: Pool | undefined;
  let source: SubscriptionSource;
  const defaults = subscriptionDefaults(config);
  if (config.subscriptionSource === 'mysql' && f.Database) {
    mysql = createPool({
      host: f.Database.Host,
      port: f.Database.Port,
      user: f.Database.User,
      password: f.Database.Password,
      database: f.Database.DbName,
      connectionLimit: f.Database.MaxConns || 10,
    });
    source = new MysqlSubscriptionSource({ pool: mysql, defaults, logger });
  } else {
    source = new RedisSubscriptionSource({ redis, keyPrefix: f.RedisKeyPrefix, defaults, logger });
  }

  const transport = new UndiciPushTransport({ allowedDestinations: f.AllowedDestinations });
  const push = new PushService({
    pool,
    source,
    transport,
    redis,
    keyPrefix: f.RedisKeyPrefix,
    channelPrefix: f.PrefixOfChannelQueue,
    ...(f.RECEPTION_ENV ? { receptionEnv: f.RECEPTION_ENV } : {}),
    ...(mysql ? { failureLog: new MysqlFailureLog(mysql) } : {}),
    enableSentLog: f.EnableMsgSentLog,
    logger,
    dataLog,
  });
  await push.start();
  const redistributor = new Redistributor({
    pool,
    source,
    redis,
    mainTube: f.NameOfMainQueue,
    channelPrefix: f.PrefixOfChannelQueue,
    listenersPerServer: Math.max(1, f.ListenersOfMainQueue),
    runAtBench: f.RunAtBench,
    keyPrefix: f.RedisKeyPrefix,
    logger,
    dataLog,
  });
  redistributor.start();
  const recover = new RecoverWatcher({
    pool,
    redis,
    listPrefix: f.MsgQueueFaultToleranceListNamePrefix,
    mainTube: f.NameOfMainQueue,
    logger,
    dataLog,
  });
  recover.start();
  const steps: [string, () => Promise<unknown>][] = [
    ['redistributor', () => redistributor.close()],
    ['recover', () => recover.close()],
    ['push', () => push.close()],
    ['transport', () => transport.close()],
    ['source', () => source.close()],
    ['beanstalkd', () => pool.close()],
    ['mysql', async () => mysql?.end()],
    ['redis', async () => redis.quit()],
  ];
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          logger.warn({ err, step: name }, 'close step failed');
        }
      }
    })();
    return closing;
  };
  let control: RunningControlPlane;
  try {
    control = await startControlPlane({ config, redis, pool, source, push, logger });
  } catch (err) {
    // e.g. a listen address in use: release the engine's jobs and connections before failing the start.
    await close();
    throw err;
  }
  // The listeners go first, so no command reaches an engine that is shutting down.
  steps.unshift(['control', () => control.close()]);
  return { push, source, control, close };
}
