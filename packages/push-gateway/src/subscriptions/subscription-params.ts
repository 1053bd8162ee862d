/**
 * Stored parameter rows (`subscription_params.param_name` / `param_value`, or the fields of a Redis hash) ⇄
 * {@link SubscriptionParams}. The original's names are kept; our additions (success mode, retry schedule,
 * retryable statuses, fleet cap, signing secret) use new names the original ignores.
 */
import { z } from 'zod';
import { PushError } from '../errors.js';
import type { BacklogAction, SubscriptionParams, SubscriptionParamsPatch } from './subscription.js';
import type { SubscriptionDefaults } from './subscription-defaults.js';

/** Stored rows: param name → text value. */
export type ParamRows = Readonly<Record<string, string>>;

const BACKLOG_ACTIONS: readonly BacklogAction[] = ['keep', 'log', 'drop'];

function int(rows: ParamRows, name: string): number | undefined {
  const raw = rows[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? Math.trunc(n) : undefined;
}

function bool(rows: ParamRows, name: string): boolean | undefined {
  const raw = rows[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return undefined;
  return raw === '1' || raw === 'true' || raw === 'yes' || raw === 'on';
}

function list(raw: string | undefined, separator: RegExp): string[] {
  return (raw ?? '')
    .split(separator)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function positiveOr(value: number | undefined, fallback: number): number {
  return value === undefined || value <= 0 ? fallback : value;
}

/** Effective parameters from stored rows, the subscription's `reception_channel` and the gateway defaults. */
export function resolveParams(
  rows: ParamRows,
  receptionChannel: string,
  d: SubscriptionDefaults,
): SubscriptionParams {
  // The original ran zero senders for a subscription without a Concurrency row; we use SendersPerChannel.
  const concurrency = Math.min(
    positiveOr(int(rows, 'Concurrency'), d.sendersPerChannel),
    d.maxSendersPerChannel,
  );
  const retryConcurrency = Math.min(
    positiveOr(int(rows, 'ConcurrencyOfRetry'), d.sendersPerRetryChannel),
    d.maxSendersPerRetryChannel,
  );
  const timeoutMs = Math.min(positiveOr(int(rows, 'ProcessTimeout'), d.timeoutMs), d.maxTimeoutMs);
  const uriLines = list(rows.ReceptionUri, /\r?\n/);
  const urls = uriLines.length > 0 ? uriLines : list(receptionChannel, /\r?\n/);
  const actionIndex = int(rows, 'DropMessageThresholdAction') ?? 0;
  const maxRetries = int(rows, 'MaxRetryTimes') ?? d.maxRetries;
  const retry: SubscriptionParams['retry'] =
    rows.RetryMode === 'exponential'
      ? {
          kind: 'exponential',
          maxRetries,
          baseDelayMs: positiveOr(int(rows, 'RetryBaseDelayMs'), 1_000),
          maxDelayMs: positiveOr(int(rows, 'RetryMaxDelayMs'), 300_000),
        }
      : {
          kind: 'legacy',
          maxRetries,
          coefficientSec: int(rows, 'RetryCoefficientSec') ?? d.retryCoefficientSec,
        };
  const statuses = rows.RetryableStatuses?.trim();
  return {
    concurrency,
    retryConcurrency,
    intervalMs: Math.max(0, int(rows, 'IntervalOfSending') ?? d.intervalMs),
    timeoutMs,
    urls,
    receiveBench: bool(rows, 'ReceiveBenchMsgs') ?? false,
    alerts: {
      enabled: bool(rows, 'AlerterEnabled') ?? false,
      emails: list(rows.AlerterEmails, /[,;\s]+/),
      phoneNumbers: list(rows.AlerterPhoneNumbers, /[,;\s]+/),
      receivers: list(rows.AlerterReceiver, /[,;\s]+/),
      alarmIntervalSec: positiveOr(int(rows, 'AlarmInterval'), d.alarmIntervalSec),
      errorWindowSec: positiveOr(int(rows, 'IntervalOfErrorMonitorAlert'), d.errorWindowSec),
      messageFailureThreshold: positiveOr(
        int(rows, 'MessageFailureAlertThreshold'),
        d.messageFailureThreshold,
      ),
      subscriptionFailureThreshold: positiveOr(
        int(rows, 'SubscriptionTotalFailureAlertThreshold'),
        d.subscriptionFailureThreshold,
      ),
      backlogThreshold: positiveOr(int(rows, 'MessageBlockedAlertThreshold'), d.backlogThreshold),
    },
    backlog: {
      threshold: Math.max(0, int(rows, 'DropMessageThreshold') ?? 0),
      action: BACKLOG_ACTIONS[actionIndex] ?? 'keep',
    },
    successMode: rows.SuccessMode === 'any-2xx' ? 'any-2xx' : 'legacy-status',
    retry,
    retryableStatuses:
      statuses === undefined || statuses === '' || statuses === 'all'
        ? 'all'
        : list(statuses, /[,\s]+/)
            .map(Number)
            .filter((n) => Number.isInteger(n)),
    fleetConcurrency: Math.max(0, int(rows, 'FleetConcurrency') ?? 0),
    signingSecret: rows.SigningSecret?.trim() || undefined,
  };
}

const count = z.number().int().min(0).max(1_000_000);

/** zod schema of a parameter patch (REST API / RPC input). */
export const subscriptionParamsPatchSchema = z
  .object({
    concurrency: count,
    retryConcurrency: count,
    intervalMs: count,
    timeoutMs: count,
    urls: z.array(z.string().min(1)).max(100),
    receiveBench: z.boolean(),
    alerts: z
      .object({
        enabled: z.boolean(),
        emails: z.array(z.string()),
        phoneNumbers: z.array(z.string()),
        receivers: z.array(z.string()),
        alarmIntervalSec: count,
        errorWindowSec: count,
        messageFailureThreshold: count,
        subscriptionFailureThreshold: count,
        backlogThreshold: count,
      })
      .partial()
      .strict(),
    backlog: z
      .object({ threshold: count, action: z.enum(['keep', 'log', 'drop']) })
      .partial()
      .strict(),
    successMode: z.enum(['legacy-status', 'any-2xx']),
    retry: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('legacy'), maxRetries: count, coefficientSec: count }).strict(),
      z
        .object({ kind: z.literal('exponential'), maxRetries: count, baseDelayMs: count, maxDelayMs: count })
        .strict(),
    ]),
    retryableStatuses: z.union([z.literal('all'), z.array(z.number().int().min(100).max(599))]),
    fleetConcurrency: count,
    signingSecret: z.string().optional(),
  })
  .partial()
  .strict();

/** Validates a patch; throws `DSP_PUSH_INVALID_ARGUMENT` naming the bad path. */
export function parseParamsPatch(input: unknown): SubscriptionParamsPatch {
  const result = subscriptionParamsPatchSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new PushError(
      'DSP_PUSH_INVALID_ARGUMENT',
      `invalid subscription params: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return result.data as SubscriptionParamsPatch;
}

/** The rows to write for a patch (only the names the patch touches). */
export function patchToRows(patch: SubscriptionParamsPatch): Record<string, string> {
  const rows: Record<string, string> = {};
  const set = (name: string, value: string | number | boolean | undefined) => {
    if (value !== undefined) rows[name] = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
  };
  set('Concurrency', patch.concurrency);
  set('ConcurrencyOfRetry', patch.retryConcurrency);
  set('IntervalOfSending', patch.intervalMs);
  set('ProcessTimeout', patch.timeoutMs);
  set('ReceptionUri', patch.urls?.join('\n'));
  set('ReceiveBenchMsgs', patch.receiveBench);
  const a = patch.alerts;
  if (a) {
    set('AlerterEnabled', a.enabled);
    set('AlerterEmails', a.emails?.join(','));
    set('AlerterPhoneNumbers', a.phoneNumbers?.join(','));
    set('AlerterReceiver', a.receivers?.join(','));
    set('AlarmInterval', a.alarmIntervalSec);
    set('IntervalOfErrorMonitorAlert', a.errorWindowSec);
    set('MessageFailureAlertThreshold', a.messageFailureThreshold);
    set('SubscriptionTotalFailureAlertThreshold', a.subscriptionFailureThreshold);
    set('MessageBlockedAlertThreshold', a.backlogThreshold);
  }
  set('DropMessageThreshold', patch.backlog?.threshold);
  if (patch.backlog?.action !== undefined)
    set('DropMessageThresholdAction', BACKLOG_ACTIONS.indexOf(patch.backlog.action));
  set('SuccessMode', patch.successMode);
  if (patch.retry) {
    set('RetryMode', patch.retry.kind);
    set('MaxRetryTimes', patch.retry.maxRetries);
    if (patch.retry.kind === 'legacy') set('RetryCoefficientSec', patch.retry.coefficientSec);
    else {
      set('RetryBaseDelayMs', patch.retry.baseDelayMs);
      set('RetryMaxDelayMs', patch.retry.maxDelayMs);
    }
  }
  if (patch.retryableStatuses !== undefined)
    set('RetryableStatuses', patch.retryableStatuses === 'all' ? 'all' : patch.retryableStatuses.join(','));
  set('FleetConcurrency', patch.fleetConcurrency);
  if ('signingSecret' in patch) set('SigningSecret', patch.signingSecret ?? '');
  return rows;
}
