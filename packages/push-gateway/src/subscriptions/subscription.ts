/** What to do with new messages for a channel whose backlog is above `backlog.threshold`. */
export type BacklogAction = 'keep' | 'log' | 'drop';

/** How a push response counts as delivered. */
export type SuccessMode =
  /** The original's rule: HTTP 200 and a JSON body whose `status` is `1` or `"1"`. */
  | 'legacy-status'
  /** Any 2xx status. */
  | 'any-2xx';

/** Retry schedule of one subscription. */
export type RetrySchedule =
  | {
      /** The original: attempt n waits `n² × coefficientSec` seconds. */
      readonly kind: 'legacy';
      /** Retries after the first push before the message is dead-lettered (`MaxRetryTimesOfSendingMessage`). */
      readonly maxRetries: number;
      /** Seconds multiplied by n² (`CoeOfIntervalForRetrySendingMsg`). */
      readonly coefficientSec: number;
    }
  | {
      /** Exponential backoff with full jitter: `random(0, min(maxDelayMs, baseDelayMs × 2^n))`. */
      readonly kind: 'exponential';
      readonly maxRetries: number;
      /** First delay in milliseconds. */
      readonly baseDelayMs: number;
      /** Cap of one delay in milliseconds. */
      readonly maxDelayMs: number;
    };

/** Alerting knobs of one subscription (the original's `Alerter*` / `*AlertThreshold` params). */
export interface SubscriptionAlertParams {
  /** `AlerterEnabled`. */
  readonly enabled: boolean;
  /** `AlerterEmails`: comma separated e-mail receivers. */
  readonly emails: readonly string[];
  /** `AlerterPhoneNumbers`: comma separated SMS receivers. */
  readonly phoneNumbers: readonly string[];
  /** `AlerterReceiver`: receiver names for the alarm platform / webhook. */
  readonly receivers: readonly string[];
  /** `AlarmInterval`: minimum seconds between two alerts of this subscription (fleet-wide). */
  readonly alarmIntervalSec: number;
  /** `IntervalOfErrorMonitorAlert`: window in seconds over which failures are counted. */
  readonly errorWindowSec: number;
  /** `MessageFailureAlertThreshold`: failed attempts of one message that raise an alert. */
  readonly messageFailureThreshold: number;
  /** `SubscriptionTotalFailureAlertThreshold`: failures within `errorWindowSec` that raise an alert. */
  readonly subscriptionFailureThreshold: number;
  /** `MessageBlockedAlertThreshold`: channel backlog (ready jobs) that raises an alert. */
  readonly backlogThreshold: number;
}

/** Effective parameters of one subscription (after defaults). */
export interface SubscriptionParams {
  /** Concurrent senders on the channel tube (`Concurrency`; default `SendersPerChannel`). */
  readonly concurrency: number;
  /** Concurrent senders on the `/FAIL` retry tube (`ConcurrencyOfRetry`; default `SendersPerRetryChannel`). */
  readonly retryConcurrency: number;
  /** Minimum milliseconds between two pushes of one sender (`IntervalOfSending`). */
  readonly intervalMs: number;
  /** Push timeout in milliseconds (`ProcessTimeout`; default `DefaultMaxMessageProcessTime`). */
  readonly timeoutMs: number;
  /** Endpoint URLs (`ReceptionUri` lines, or the subscription's `reception_channel`), `[T_ENV:X]` tags kept. */
  readonly urls: readonly string[];
  /** `ReceiveBenchMsgs`: whether bench (load-test) messages are pushed to this subscription. */
  readonly receiveBench: boolean;
  readonly alerts: SubscriptionAlertParams;
  /** `DropMessageThreshold` / `DropMessageThresholdAction`; threshold `0` disables. */
  readonly backlog: { readonly threshold: number; readonly action: BacklogAction };
  readonly successMode: SuccessMode;
  readonly retry: RetrySchedule;
  /** HTTP statuses that are retried; other non-success statuses go straight to the dead-letter tube. */
  readonly retryableStatuses: readonly number[] | 'all';
  /** Fleet-wide cap of concurrent pushes to this subscriber across all instances; `0` = no cap. */
  readonly fleetConcurrency: number;
  /** Standard Webhooks secret (`whsec_…`); when set pushes are signed. */
  readonly signingSecret?: string | undefined;
}

/** One active subscription: `subscriptions` ⋈ `message_classes` plus its params. */
export interface Subscription {
  /** `subscription_id`. */
  readonly id: number;
  /** `message_classes.class_key`: the topic. */
  readonly topic: string;
  /** `subscriber_id`. */
  readonly subscriberId: number;
  /** `subscriptions.reception_channel`: default endpoint URL(s). */
  readonly receptionChannel: string;
  readonly params: SubscriptionParams;
}

/** A partial update of parameters, as the RPC `SetSubscriptionParams` and the REST API send it. */
export type SubscriptionParamsPatch = {
  -readonly [K in Exclude<keyof SubscriptionParams, 'alerts' | 'backlog'>]?: SubscriptionParams[K];
} & {
  alerts?: Partial<SubscriptionAlertParams>;
  backlog?: Partial<SubscriptionParams['backlog']>;
};
