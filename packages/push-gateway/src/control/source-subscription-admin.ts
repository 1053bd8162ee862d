import { PushError } from '../errors.js';
import type { BacklogAction, Subscription, SubscriptionParamsPatch } from '../subscriptions/subscription.js';
import type { SubscriptionSource, WritableSubscriptionSource } from '../subscriptions/subscription-source.js';
import type { ControlSubscription, NewSubscription, SubscriptionAdmin } from './control-ports.js';
import type { LegacyParamsPatch, LegacySubscriptionParams } from './legacy-params.js';

const ACTIONS: readonly BacklogAction[] = ['keep', 'log', 'drop'];
const isWritable = (s: SubscriptionSource): s is WritableSubscriptionSource =>
  typeof (s as Partial<WritableSubscriptionSource>).create === 'function' &&
  typeof (s as Partial<WritableSubscriptionSource>).remove === 'function';
const listOf = (text: string, sep: RegExp) =>
  text
    .split(sep)
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** A subscription's effective parameters under the original's names. */
export function toLegacyParams(sub: Subscription): LegacySubscriptionParams {
  const p = sub.params;
  return {
    SubscriptionId: sub.id,
    Concurrency: p.concurrency,
    ConcurrencyOfRetry: p.retryConcurrency,
    IntervalOfSending: p.intervalMs,
    ProcessTimeout: p.timeoutMs,
    ReceptionUri: p.urls.join('\n'),
    AlerterEmails: p.alerts.emails.join(','),
    AlerterReceiver: p.alerts.receivers.join(','),
    ReceiveBenchMsgs: p.receiveBench,
    AlerterPhoneNumbers: p.alerts.phoneNumbers.join(','),
    AlerterEnabled: p.alerts.enabled,
    AlarmInterval: p.alerts.alarmIntervalSec,
    IntervalOfErrorMonitorAlert: p.alerts.errorWindowSec,
    MessageFailureAlertThreshold: p.alerts.messageFailureThreshold,
    SubscriptionTotalFailureAlertThreshold: p.alerts.subscriptionFailureThreshold,
    MessageBlockedAlertThreshold: p.alerts.backlogThreshold,
    DropMessageThreshold: p.backlog.threshold,
    DropMessageThresholdAction: Math.max(0, ACTIONS.indexOf(p.backlog.action)),
  };
}

/** A legacy patch as a patch of the engine's parameters (nested groups completed from the current values). */
export function fromLegacyPatch(sub: Subscription, l: LegacyParamsPatch): SubscriptionParamsPatch {
  const out: SubscriptionParamsPatch = {};
  if (l.Concurrency !== undefined) out.concurrency = l.Concurrency;
  if (l.ConcurrencyOfRetry !== undefined) out.retryConcurrency = l.ConcurrencyOfRetry;
  if (l.IntervalOfSending !== undefined) out.intervalMs = l.IntervalOfSending;
  if (l.ProcessTimeout !== undefined) out.timeoutMs = l.ProcessTimeout;
  if (l.ReceptionUri !== undefined) out.urls = listOf(l.ReceptionUri, /\r?\n/);
  if (l.ReceiveBenchMsgs !== undefined) out.receiveBench = l.ReceiveBenchMsgs;
  const a = sub.params.alerts;
  const alerts = {
    ...a,
    ...(l.AlerterEnabled === undefined ? {} : { enabled: l.AlerterEnabled }),
    ...(l.AlerterEmails === undefined ? {} : { emails: listOf(l.AlerterEmails, /[,;]/) }),
    ...(l.AlerterPhoneNumbers === undefined ? {} : { phoneNumbers: listOf(l.AlerterPhoneNumbers, /[,;]/) }),
    ...(l.AlerterReceiver === undefined ? {} : { receivers: listOf(l.AlerterReceiver, /[,;]/) }),
    ...(l.AlarmInterval === undefined ? {} : { alarmIntervalSec: l.AlarmInterval }),
    ...(l.IntervalOfErrorMonitorAlert === undefined ? {} : { errorWindowSec: l.IntervalOfErrorMonitorAlert }),
    ...(l.MessageFailureAlertThreshold === undefined
      ? {}
      : { messageFailureThreshold: l.MessageFailureAlertThreshold }),
    ...(l.SubscriptionTotalFailureAlertThreshold === undefined
      ? {}
      : { subscriptionFailureThreshold: l.SubscriptionTotalFailureAlertThreshold }),
    ...(l.MessageBlockedAlertThreshold === undefined
      ? {}
      : { backlogThreshold: l.MessageBlockedAlertThreshold }),
  };
  if (Object.keys(alerts).some((k) => alerts[k as keyof typeof alerts] !== a[k as keyof typeof a]))
    out.alerts = alerts;
  if (l.DropMessageThreshold !== undefined || l.DropMessageThresholdAction !== undefined) {
    out.backlog = {
      threshold: l.DropMessageThreshold ?? sub.params.backlog.threshold,
      action:
        l.DropMessageThresholdAction === undefined
          ? sub.params.backlog.action
          : (ACTIONS[l.DropMessageThresholdAction] ?? 'keep'),
    };
  }
  return out;
}

function toControl(sub: Subscription): ControlSubscription {
  return {
    id: sub.id,
    topic: sub.topic,
    subscriberId: sub.subscriberId,
    receptionUri: sub.receptionChannel,
    enabled: true,
  };
}

/**
 * The control plane's view of a {@link SubscriptionSource}: read-only in MySQL mode (parameters still change),
 * full create/update/remove when the source is writable (Redis-only mode). Sources notice changes within about
 * a second on every instance, so `clearCache` (the legacy `ClearDataCache`) has nothing to drop: it calls
 * `onClearCache` when given and reports 0 otherwise.
 */
export class SourceSubscriptionAdmin implements SubscriptionAdmin {
  readonly readOnly: boolean;
  readonly #source: SubscriptionSource;
  readonly #onClearCache: ((prefixes?: readonly string[]) => Promise<number>) | undefined;

  constructor(source: SubscriptionSource, onClearCache?: (prefixes?: readonly string[]) => Promise<number>) {
    this.#source = source;
    this.readOnly = !isWritable(source);
    this.#onClearCache = onClearCache;
  }

  async list(): Promise<ControlSubscription[]> {
    return (await this.#source.list()).map(toControl).sort((a, b) => a.id - b.id);
  }

  async get(id: number): Promise<ControlSubscription | undefined> {
    const sub = await this.#source.get(id);
    return sub ? toControl(sub) : undefined;
  }

  async create(input: NewSubscription): Promise<ControlSubscription> {
    const source = this.#writable();
    if (input.id !== undefined && (await source.get(input.id))) {
      throw new PushError('DSP_PUSH_CONFLICT', `subscription ${input.id} exists`);
    }
    const sub = await source.create({
      ...(input.id === undefined ? {} : { id: input.id }),
      topic: input.topic,
      subscriberId: input.subscriberId ?? 0,
      receptionChannel: input.receptionUri,
    });
    return toControl(sub);
  }

  async update(id: number, patch: Partial<NewSubscription>): Promise<ControlSubscription> {
    const source = this.#writable();
    const cur = await this.#require(id);
    if (patch.enabled === false) {
      throw new PushError(
        'DSP_PUSH_INVALID_ARGUMENT',
        'disabling is not supported by this source: delete it',
      );
    }
    const moved =
      (patch.topic !== undefined && patch.topic !== cur.topic) ||
      (patch.subscriberId !== undefined && patch.subscriberId !== cur.subscriberId);
    if (moved || (patch.receptionUri !== undefined && patch.receptionUri !== cur.receptionChannel)) {
      // The source has no in-place update of these fields: the subscription is re-created under its id with
      // its parameters, so its tubes follow the new topic.
      await source.remove(id);
      const again = await source.create({
        id,
        topic: patch.topic ?? cur.topic,
        subscriberId: patch.subscriberId ?? cur.subscriberId,
        receptionChannel: patch.receptionUri ?? cur.receptionChannel,
        params: { ...cur.params },
      });
      return toControl(again);
    }
    return toControl(cur);
  }

  async remove(id: number): Promise<boolean> {
    return this.#writable().remove(id);
  }

  async getParams(id: number): Promise<LegacySubscriptionParams> {
    return toLegacyParams(await this.#require(id));
  }

  async setParams(id: number, patch: LegacyParamsPatch): Promise<LegacySubscriptionParams> {
    const cur = await this.#require(id);
    const next = await this.#source.setParams(id, fromLegacyPatch(cur, patch));
    return toLegacyParams(next);
  }

  async clearCache(prefixes?: readonly string[]): Promise<number> {
    return this.#onClearCache ? this.#onClearCache(prefixes) : 0;
  }

  async #require(id: number): Promise<Subscription> {
    const sub = await this.#source.get(id);
    if (!sub) throw new PushError('DSP_PUSH_NOT_FOUND', `subscription ${id} not found`);
    return sub;
  }

  #writable(): WritableSubscriptionSource {
    if (!isWritable(this.#source)) {
      throw new PushError(
        'DSP_PUSH_READ_ONLY',
        'subscriptions are managed in MySQL; only parameters can change',
      );
    }
    return this.#source;
  }
}
