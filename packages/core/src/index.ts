export { abortReason, delay, MAX_TIMEOUT_MS, raceAbort, throwIfAborted } from './abort.js';
export {
  ADMIN_DENIAL_STATUS,
  ADMIN_SECURITY_HEADERS,
  type AdminAccessDenial,
  type AdminAccessOptions,
  type AdminAccessRequest,
  adminAccessCheck,
  adminAccessRequest,
  bearerTokenMatches,
  isStateChangingMethod,
  type NodeRequestLike,
} from './admin-access/admin-access.js';
export {
  adminHostMatcher,
  type HostName,
  isLoopbackAddress,
  isLoopbackHostName,
  originHost,
  parseHostName,
} from './admin-access/host-name.js';
export { type CloseOnSignalOptions, closeOnSignal, type SignalProcess } from './close-on-signal.js';
export { DispatcherError, type DispatcherErrorOptions } from './dispatcher-error.js';
export { CoreError, type CoreErrorCode, CoreErrorCodes } from './errors.js';
export {
  Lifecycle,
  type LifecycleState,
  runCloseSteps,
  type StartOptions,
  settleWithin,
} from './lifecycle.js';
export {
  type AppendOptions,
  DurableLog,
  type HistoryEntry,
  type LogRecord,
  type LogStats,
} from './log/durable-log.js';
export { DURABLE_LOG_DEFAULTS, type DurableLogOptions, type FsyncPolicy } from './log/durable-log-options.js';
export { type LogFileHandle, type LogFileSystem, nodeLogFileSystem } from './log/log-file-system.js';
export type { RecoveryReport } from './log/log-recovery.js';
export type { LogFn, Logger } from './logger.js';
export { noopLogger } from './logger.js';
export {
  type CreateMessageInput,
  createMessage,
  MAX_MESSAGE_ID_BYTES,
  type Message,
  type MessageHeaders,
  withAttempt,
} from './message/message.js';
export { decodeMessage, encodeMessage, type MessageSummary, peekMessage } from './message/message-codec.js';
export { newMessageId } from './message/message-id.js';
export {
  DEFAULT_EXPONENTIAL_BACKOFF,
  type ExponentialBackoffOptions,
  exponentialBackoff,
  type JitterMode,
} from './retry/exponential-backoff.js';
export { DEFAULT_FIXED_SCHEDULE, type FixedScheduleOptions, fixedSchedule } from './retry/fixed-schedule.js';
export { parseHttpDate } from './retry/http-date.js';
export {
  DEFAULT_HTTP_RETRY_CLASSIFIER,
  type HttpRetryClassifierOptions,
  httpRetryClassifier,
} from './retry/http-retry-classifier.js';
export {
  DEFAULT_LEGACY_DISPATCHER_BACKOFF,
  type LegacyDispatcherBackoffOptions,
  legacyDispatcherBackoff,
} from './retry/legacy-dispatcher-backoff.js';
export {
  DEFAULT_QUADRATIC_SCHEDULE,
  type QuadraticScheduleOptions,
  quadraticSchedule,
} from './retry/quadratic-schedule.js';
export {
  DEFAULT_RETRY_AFTER_OPTIONS,
  parseRetryAfter,
  parseRetryAfterOrThrow,
  type RetryAfterOptions,
} from './retry/retry-after.js';
export type { RetryClassification, RetryClassifier, RetryOutcome } from './retry/retry-classifier.js';
export {
  DEFAULT_RETRY_DECIDER,
  type DecideContext,
  type RetryDecider,
  type RetryDeciderOptions,
  type RetryVerdict,
  retryDecider,
  type StopReason,
} from './retry/retry-decider.js';
export { DEFAULT_RETRY_LIMITS, type RetryLimits } from './retry/retry-limits.js';
export {
  type Clock,
  defaultClock,
  defaultRandom,
  type GiveUpReason,
  type RandomSource,
  type RetryContext,
  type RetryDecision,
  type RetryPolicy,
} from './retry/retry-policy.js';
