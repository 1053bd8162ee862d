// --- control plane, alerts, stats, metrics (wt-pushctl) ---
export type { Alert, AlertChannel, AlertKind } from './alerts/alert.js';
export {
  ALERT_MANAGER_DEFAULTS,
  AlertManager,
  type AlertManagerOptions,
  type AlertOutcome,
  type BacklogSnapshot,
  type BacklogSource,
} from './alerts/alert-manager.js';
export {
  AlertSettingsStore,
  DEFAULT_ALARM_SETTINGS,
  type DefaultAlarmSettings,
} from './alerts/alert-settings-store.js';
export {
  SENDMAIL_ALERT_DEFAULTS,
  SendmailAlertChannel,
  type SendmailAlertChannelOptions,
} from './alerts/sendmail-alert-channel.js';
export {
  SMS_ALERT_DEFAULTS,
  SmsAlertChannel,
  type SmsAlertChannelOptions,
} from './alerts/sms-alert-channel.js';
export { type TubeBacklogSourceOptions, tubeBacklogSource } from './alerts/tube-backlog-source.js';
export {
  WEBHOOK_ALERT_DEFAULTS,
  WebhookAlertChannel,
  type WebhookAlertChannelOptions,
} from './alerts/webhook-alert-channel.js';
export {
  BEANSTALK_CLIENT_DEFAULTS,
  BeanstalkClient,
  type BeanstalkClientOptions,
  DEFAULT_PRIORITY,
  DEFAULT_TTR_SEC,
} from './beanstalk/beanstalk-client.js';
export {
  BeanstalkPool,
  type BeanstalkPoolOptions,
  type PutResult,
  parseServerAddress,
} from './beanstalk/beanstalk-pool.js';
export type {
  BeanstalkClientApi,
  BeanstalkConnectionState,
  BeanstalkJob,
  CallOptions,
  PutOptions,
  TubeOption,
  TubeStats,
} from './beanstalk/beanstalk-types.js';
export {
  assertKickReportComplete,
  isGatewayTube,
  type KickBuriedOptions,
  type KickReport,
  type KickReportRow,
  kickBuried,
} from './control/buried-kicker.js';
export { CONTROL_RESPONSE_HEADERS, controlGuard, controlHostMatcher } from './control/control-guard.js';
export type {
  ChannelPauser,
  ClearReport,
  ControlSubscription,
  DeadLetter,
  DeadLetterAdmin,
  MetricsSource,
  NewSubscription,
  QueueClearing,
  RedriveEdits,
  SubscriptionAdmin,
} from './control/control-ports.js';
export {
  CONTROL_PREFIX,
  CONTROL_SERVER_DEFAULTS,
  ControlServer,
  type ControlServerOptions,
} from './control/control-server.js';
export {
  LEGACY_ALERT_DEFAULTS,
  type LegacyParamsPatch,
  type LegacySubscriptionParams,
  legacyParamsPatchSchema,
} from './control/legacy-params.js';
export { QueueClearer, type QueueClearerOptions } from './control/queue-clearer.js';
export {
  LEGACY_RPC_SERVER_DEFAULTS,
  LegacyRpcServer,
  type LegacyRpcServerOptions,
} from './control/rpc/legacy-rpc-server.js';
export {
  type DefaultAlarmPatch,
  type DefaultAlarmSink,
  type LegacyRpcDeps,
  type LegacyStatsSource,
  legacyRpcCommands,
  type RpcCommand,
  type TubeCleaner,
} from './control/rpc/rpc-commands.js';
export {
  encodeRpcRequest,
  encodeRpcResponse,
  RPC_HEAD_BYTES,
  RpcFrameReader,
} from './control/rpc/rpc-frame.js';
export {
  fromLegacyPatch,
  SourceSubscriptionAdmin,
  toLegacyParams,
} from './control/source-subscription-admin.js';
export { TubeDeadLetters, type TubeDeadLettersOptions } from './control/tube-dead-letters.js';
export { PushError, type PushErrorCode, PushErrorCodes } from './errors.js';
export {
  type BacklogDropEvent,
  PushChannels,
  type PushDeadLetterEvent,
  type PushEventBase,
  type PushEventMap,
  type PushFailedEvent,
  type PushRetryEvent,
  type PushSentEvent,
  publishPushEvent,
  type RedistributedEvent,
} from './events/push-events.js';
export { decodeJob, encodeJob, unwrapRecoverValue, wrapRecoverValue } from './job/job-codec.js';
export { JOB_MESSAGE_DEFAULTS, type JobMessage } from './job/job-message.js';
export {
  channelTube,
  DEFAULT_CHANNEL_PREFIX,
  DEFAULT_MAIN_TUBE,
  deadLetterTube,
  pushJobId,
  retryTube,
} from './job/tube-names.js';
export {
  type EndpointBreaker,
  type EndpointBreakersOptions,
  endpointBreakers,
} from './push/endpoint-breaker.js';
export type { FailureLog, FailureRecord } from './push/failure-log.js';
export { MysqlFailureLog } from './push/mysql-failure-log.js';
export { judgeResponse, type PushOutcome, type PushResponse } from './push/push-outcome.js';
export { buildPushRequest, type PushRequest, selectUrl } from './push/push-request.js';
export { PushService, type PushServiceOptions } from './push/push-service.js';
export {
  type PushAttempt,
  type PushTransport,
  UndiciPushTransport,
  type UndiciPushTransportOptions,
} from './push/push-transport.js';
export {
  DEFAULT_RECOVER_LIST_PREFIX,
  RecoverWatcher,
  type RecoverWatcherOptions,
} from './redistribute/recover-watcher.js';
export { Redistributor, type RedistributorOptions } from './redistribute/redistributor.js';
export {
  beanstalkTubeStats,
  PushMetrics,
  type PushMetricsOptions,
  type TubeDepth,
  type TubeStatsProvider,
} from './stats/push-metrics.js';
export {
  type LegacyPushStatistics,
  type LegacyWindowCounts,
  PUSH_STATS_DEFAULTS,
  type PushCount,
  PushStats,
  type PushStatsOptions,
  STATS_WINDOWS,
  type StatsWindow,
  type SubscriptionStats,
  type WindowCounts,
} from './stats/push-stats.js';
export {
  MysqlSubscriptionSource,
  type MysqlSubscriptionSourceOptions,
} from './subscriptions/mysql-subscription-source.js';
export {
  RedisSubscriptionSource,
  type RedisSubscriptionSourceOptions,
} from './subscriptions/redis-subscription-source.js';
export type {
  BacklogAction,
  RetrySchedule,
  Subscription,
  SubscriptionAlertParams,
  SubscriptionParams,
  SubscriptionParamsPatch,
  SuccessMode,
} from './subscriptions/subscription.js';
export { SUBSCRIPTION_DEFAULTS, type SubscriptionDefaults } from './subscriptions/subscription-defaults.js';
export {
  type ParamRows,
  parseParamsPatch,
  patchToRows,
  resolveParams,
  subscriptionParamsPatchSchema,
} from './subscriptions/subscription-params.js';
export type {
  CreateSubscriptionInput,
  SubscriptionChange,
  SubscriptionSource,
  WritableSubscriptionSource,
} from './subscriptions/subscription-source.js';
