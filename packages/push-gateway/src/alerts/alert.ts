/** What an alert is about. */
export type AlertKind =
  /** A subscription failed `SubscriptionTotalFailureAlertThreshold` times within `IntervalOfErrorMonitorAlert`. */
  | 'subscription-failures'
  /** One message failed `MessageFailureAlertThreshold` times. */
  | 'message-failures'
  /** A subscription's channel or retry tube holds `MessageBlockedAlertThreshold` ready jobs or more. */
  | 'channel-backlog'
  /** The main tube holds more than `NameOfMainQueueBlockedAlertThreshold` ready jobs. */
  | 'main-backlog'
  /** All channel tubes together hold more than `GlobalMessageBlockedAlertThreshold` ready jobs. */
  | 'global-backlog';

/** One alert, as handed to the channels. */
export interface Alert {
  readonly kind: AlertKind;
  readonly subject: string;
  readonly content: string;
  readonly subscriptionId?: number | undefined;
  readonly topic?: string | undefined;
  /** The alarm platform's receive channel for the default receiver (`DefaultAlarmChan`). */
  readonly chan?: string | undefined;
  /** Epoch milliseconds. */
  readonly at: number;
}

/** Delivers alerts to receivers (addresses, phone numbers, receiver names); rejects when not accepted. */
export interface AlertChannel {
  readonly name: 'email' | 'sms' | 'webhook';
  send(alert: Alert, recipients: readonly string[], options?: { signal?: AbortSignal }): Promise<void>;
}
