/**
 * Gateway-wide defaults and caps that turn stored parameter rows into {@link SubscriptionParams}; the app fills
 * them from the original TOML keys named on each field.
 */
export interface SubscriptionDefaults {
  /** `SendersPerChannel`: senders when a subscription has no (or a zero) `Concurrency`. @defaultValue 1 */
  sendersPerChannel: number;
  /** `MaxSendersPerChannel`: cap of `Concurrency`. @defaultValue 10 */
  maxSendersPerChannel: number;
  /** `SendersPerRetryChannel`. @defaultValue 1 */
  sendersPerRetryChannel: number;
  /** `MaxSendersPerRetryChannel`. @defaultValue 10 */
  maxSendersPerRetryChannel: number;
  /** `IntervalOfSendingForSendRoutine`, milliseconds. @defaultValue 0 */
  intervalMs: number;
  /** `DefaultMaxMessageProcessTime`: push timeout when `ProcessTimeout` is unset, milliseconds. @defaultValue 5000 */
  timeoutMs: number;
  /** `MaxMessageProcessTime`: cap of `ProcessTimeout`, milliseconds. @defaultValue 30000 */
  maxTimeoutMs: number;
  /** `MaxRetryTimesOfSendingMessage`. @defaultValue 10 */
  maxRetries: number;
  /** `CoeOfIntervalForRetrySendingMsg`, seconds. @defaultValue 10 */
  retryCoefficientSec: number;
  /** Alert defaults of the original (`sender/def.go`). */
  alarmIntervalSec: number;
  errorWindowSec: number;
  messageFailureThreshold: number;
  subscriptionFailureThreshold: number;
  backlogThreshold: number;
}

/** The original 2.5.1 defaults. */
export const SUBSCRIPTION_DEFAULTS: SubscriptionDefaults = {
  sendersPerChannel: 1,
  maxSendersPerChannel: 10,
  sendersPerRetryChannel: 1,
  maxSendersPerRetryChannel: 10,
  intervalMs: 0,
  timeoutMs: 5_000,
  maxTimeoutMs: 30_000,
  maxRetries: 10,
  retryCoefficientSec: 10,
  alarmIntervalSec: 180,
  errorWindowSec: 180,
  messageFailureThreshold: 7,
  subscriptionFailureThreshold: 120,
  backlogThreshold: 5_000,
};
