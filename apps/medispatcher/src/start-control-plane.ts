import {
  AlertManager,
  AlertSettingsStore,
  type BeanstalkPool,
  beanstalkTubeStats,
  ControlServer,
  LegacyRpcServer,
  legacyRpcCommands,
  PushMetrics,
  type PushService,
  PushStats,
  QueueClearer,
  SendmailAlertChannel,
  SmsAlertChannel,
  SourceSubscriptionAdmin,
  type SubscriptionSource,
  TubeDeadLetters,
  tubeBacklogSource,
  WebhookAlertChannel,
} from '@dispatcher/push-gateway';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type MedispatcherConfig, splitListenAddr } from './config.js';

/** What the control plane needs from the running engine. */
export interface ControlPlaneDeps {
  readonly config: MedispatcherConfig;
  readonly redis: Redis;
  readonly pool: BeanstalkPool;
  readonly source: SubscriptionSource;
  /** Holds a subscription's senders while its queues are cleared. */
  readonly push: PushService;
  readonly logger: Logger;
}

/** The started control plane; the bound addresses are undefined where a listener is off. */
export interface RunningControlPlane {
  readonly rpc: { host: string; port: number } | undefined;
  readonly rest: { host: string; port: number } | undefined;
  close(): Promise<void>;
}

// The CleanTopic callback is fetched once; a panel that does not answer must not hold the clear's promise.
const NOTIFY_TIMEOUT_MS = 10_000;

function alertChannels(config: MedispatcherConfig, logger: Logger) {
  const f = config.file;
  const channels: ConstructorParameters<typeof AlertManager>[0]['channels'] = {};
  const mail = f.AlerterEmail?.Gateway ?? '';
  if (mail.startsWith('sendmail://')) {
    const path = mail.slice('sendmail://'.length);
    channels.email = new SendmailAlertChannel({
      ...(path ? { path } : {}),
      ...(f.AlerterEmail?.From ? { from: f.AlerterEmail.From } : {}),
    });
  } else if (mail !== '') {
    logger.warn(
      { gateway: mail },
      'AlerterEmail.Gateway: only sendmail:// is supported; e-mail alerts are off',
    );
  }
  if (f.AlerterSms?.Gateway) {
    const s = f.AlerterSms;
    channels.sms = new SmsAlertChannel({
      gateway: s.Gateway,
      ...(s.User === undefined ? {} : { user: s.User }),
      ...(s.Password === undefined ? {} : { password: s.Password }),
      ...(s.PostFieldsMap === undefined ? {} : { fieldsMap: s.PostFieldsMap }),
      ...(s.AckStr === undefined ? {} : { ackStr: s.AckStr }),
    });
  }
  if (f.AlertWebhookUrl) channels.webhook = new WebhookAlertChannel({ url: f.AlertWebhookUrl });
  return channels;
}

/**
 * Wires the control plane onto the running engine: Redis statistics, Prometheus metrics, alerts with the tube
 * backlog check, queue clearing that pauses the senders, dead letters, the legacy TCP RPC (`ListenAddr`) and the
 * REST API (`ControlListenAddr`). A listener that cannot bind fails the start, as the original did.
 */
export async function startControlPlane(deps: ControlPlaneDeps): Promise<RunningControlPlane> {
  const { config, redis, pool, source, push, logger } = deps;
  const f = config.file;
  const clients = () => pool.clients;
  const keyPrefix = f.RedisKeyPrefix;
  const steps: [string, () => Promise<unknown>][] = [];
  const close = async () => {
    for (const [name, step] of steps.reverse()) {
      try {
        await step();
      } catch (err) {
        logger.warn({ err, step: name }, 'close step failed');
      }
    }
  };
  try {
    const stats = new PushStats({ redis, keyPrefix: `${keyPrefix}stats`, logger });
    stats.start();
    steps.push(['stats', () => stats.close()]);
    const tubes = beanstalkTubeStats(clients, f.NameOfMainQueue);
    const metrics = new PushMetrics({ tubes, logger });
    metrics.start();
    steps.push(['metrics', () => metrics.close()]);

    const alertSettings = new AlertSettingsStore(redis, {}, `${keyPrefix}alerts:default`);
    const alerts = new AlertManager({
      redis,
      subscriptions: source,
      settings: alertSettings,
      channels: alertChannels(config, logger),
      backlog: tubeBacklogSource({
        tubes,
        subscriptions: source,
        mainTube: f.NameOfMainQueue,
        channelPrefix: f.PrefixOfChannelQueue,
      }),
      keyPrefix: `${keyPrefix}alerts`,
      ...(f.RECEPTION_ENV ? { environment: f.RECEPTION_ENV } : {}),
      logger,
    });
    alerts.start();
    steps.push(['alerts', () => alerts.close()]);

    const clearer = new QueueClearer({
      clients,
      subscriptions: source,
      pauser: push,
      channelPrefix: f.PrefixOfChannelQueue,
      logger,
    });
    const deadLetters = new TubeDeadLetters({
      pool,
      subscriptions: source,
      channelPrefix: f.PrefixOfChannelQueue,
      logger,
    });
    const admin = new SourceSubscriptionAdmin(source);

    let rpc: RunningControlPlane['rpc'];
    if (f.ListenAddr !== '') {
      const commands = legacyRpcCommands({
        subscriptions: admin,
        defaultSettings: () => ({
          MaxSendersPerChannel: f.MaxSendersPerChannel,
          SendersPerChannel: f.SendersPerChannel,
          MaxSendersPerRetryChannel: f.MaxSendersPerRetryChannel,
          SendersPerRetryChannel: f.SendersPerRetryChannel,
          MaxMessageProcessTime: f.MaxMessageProcessTime,
          DefaultMaxMessageProcessTime: f.DefaultMaxMessageProcessTime,
        }),
        alarms: alertSettings,
        stats,
        cleaner: clearer,
        notify: async (url) => {
          const res = await fetch(url, { signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS) });
          await res.body?.cancel();
        },
        onBackgroundError: (err) => logger.warn({ err }, 'CleanTopic failed'),
      });
      const server = new LegacyRpcServer(commands, { ...splitListenAddr(f.ListenAddr), logger });
      rpc = await server.start();
      steps.push(['rpc', () => server.close()]);
    }

    let rest: RunningControlPlane['rest'];
    if (f.ControlListenAddr !== '') {
      const server = new ControlServer({
        subscriptions: admin,
        stats,
        alertSettings,
        clearer,
        deadLetters,
        metrics: metrics.registry,
        ...(f.ControlToken ? { token: f.ControlToken } : {}),
        hosts: f.ControlHosts,
        publicMetrics: f.ControlPublicMetrics,
        ...splitListenAddr(f.ControlListenAddr),
        logger,
      });
      rest = await server.start();
      if (!f.ControlToken) logger.info('control API without ControlToken: loopback clients only');
      steps.push(['rest', () => server.close()]);
    }
    let closing: Promise<void> | undefined;
    return {
      rpc,
      rest,
      close: () => {
        closing ??= close();
        return closing;
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}
