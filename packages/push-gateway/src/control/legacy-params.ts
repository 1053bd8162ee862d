import { z } from 'zod';

/**
 * A subscription's parameters under the names the original's control panel reads and writes
 * (`subscription_params.param_name`, the RPC `GetSubscriptionParams` / `SetSubscriptionParams` payloads).
 */
export interface LegacySubscriptionParams {
  SubscriptionId: number;
  /** Senders on the channel tube. */
  Concurrency: number;
  /** Senders on the retry (`…/FAIL`) tube. */
  ConcurrencyOfRetry: number;
  /** Minimum time between two pushes of one sender, in milliseconds. */
  IntervalOfSending: number;
  /** Push timeout in milliseconds. */
  ProcessTimeout: number;
  /** Endpoint URLs, one per line, maybe tagged `[T_ENV:X]`. */
  ReceptionUri: string;
  AlerterEmails: string;
  AlerterReceiver: string;
  ReceiveBenchMsgs: boolean;
  AlerterPhoneNumbers: string;
  AlerterEnabled: boolean;
  /** Seconds between two alerts of one kind for this subscription. */
  AlarmInterval: number;
  /** Seconds of the window in which failures are counted. */
  IntervalOfErrorMonitorAlert: number;
  /** Attempts of one message after which an alert is sent. */
  MessageFailureAlertThreshold: number;
  /** Failures within `IntervalOfErrorMonitorAlert` after which an alert is sent. */
  SubscriptionTotalFailureAlertThreshold: number;
  /** Ready jobs in the channel (or retry) tube after which an alert is sent. */
  MessageBlockedAlertThreshold: number;
  /** Backlog above which `DropMessageThresholdAction` applies. */
  DropMessageThreshold: number;
  /** 0 keep, 1 log to file and drop, 2 drop. */
  DropMessageThresholdAction: number;
}

/** The original's alert defaults (sender/def.go of 2.5.1). */
export const LEGACY_ALERT_DEFAULTS = {
  AlarmInterval: 180,
  IntervalOfErrorMonitorAlert: 180,
  MessageFailureAlertThreshold: 7,
  SubscriptionTotalFailureAlertThreshold: 120,
  MessageBlockedAlertThreshold: 5000,
} as const;

// The original accepted only JSON numbers here (and failed with a reflect error for a number given for a
// boolean); control panels send numbers, numeric strings and "0"/"1", so each field takes them all.
const uint = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
  z
    .number()
    .int()
    .nonnegative()
    .max(2 ** 31 - 1),
);
const text = z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string().max(65_536));
const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off', '']);
const bool = z.preprocess((v) => {
  if (typeof v === 'number') return v === 1 ? true : v === 0 ? false : v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
  }
  return v;
}, z.boolean());

/** Validates a (partial) parameter patch; unknown names are dropped as the original ignored them. */
export const legacyParamsPatchSchema = z
  .object({
    Concurrency: uint,
    ConcurrencyOfRetry: uint,
    IntervalOfSending: uint,
    ProcessTimeout: uint,
    ReceptionUri: text,
    AlerterEmails: text,
    AlerterReceiver: text,
    ReceiveBenchMsgs: bool,
    AlerterPhoneNumbers: text,
    AlerterEnabled: bool,
    AlarmInterval: uint,
    IntervalOfErrorMonitorAlert: uint,
    MessageFailureAlertThreshold: uint,
    SubscriptionTotalFailureAlertThreshold: uint,
    MessageBlockedAlertThreshold: uint,
    DropMessageThreshold: uint,
    DropMessageThresholdAction: z.preprocess(
      (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
      z.union([z.literal(0), z.literal(1), z.literal(2)]),
    ),
  })
  .partial();

export type LegacyParamsPatch = z.infer<typeof legacyParamsPatchSchema>;

/** A subscription id as the RPC and REST callers send it: a positive integer, as number or string. */
export const subscriptionIdSchema = z.preprocess(
  (v) => (typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v),
  z
    .number()
    .int()
    .positive()
    .max(2 ** 31 - 1),
);
