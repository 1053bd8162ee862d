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
export { consecutiveFailureBreaker, type EndpointBreaker } from './push/endpoint-breaker.js';
export type { FailureLog, FailureRecord } from './push/failure-log.js';
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
