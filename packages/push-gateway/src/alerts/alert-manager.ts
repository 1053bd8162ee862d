import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type Logger, noopLogger } from '@dispatcher/core';
import type { Redis } from 'ioredis';
import { PushError } from '../errors.js';
import { PushChannels, type PushFailedEvent } from '../events/push-events.js';
import type { Subscription } from '../subscriptions/subscription.js';
import type { Alert, AlertChannel, AlertKind } from './alert.js';
import type { AlertSettingsStore } from './alert-settings-store.js';

/** Ready-job counts the backlog check reads (e.g. from `stats-tube` summed over the beanstalkd servers). */
export interface BacklogSnapshot {
  /** Ready jobs in the main tube. */
  main: number;
  /** Per subscription: ready jobs in its channel tube and in its `/FAIL` retry tube. */
  channels: readonly { subscriptionId: number; ready: number; retryReady: number }[];
}

/** Source of {@link BacklogSnapshot}s. */
export interface BacklogSource {
  backlog(options?: { signal?: AbortSignal }): Promise<BacklogSnapshot>;
}

/** Options of {@link AlertManager}. */
export interface AlertManagerOptions {
  redis: Redis;
  /** Subscriptions and their alert parameters. */
  subscriptions: { get(id: number): Promise<Subscription | undefined> };
  settings: AlertSettingsStore;
  channels: { email?: AlertChannel; sms?: AlertChannel; webhook?: AlertChannel };
  /** Tube depths for the backlog alerts; without it only failure alerts are raised. */
  backlog?: BacklogSource;
  /** How often backlogs are checked, in milliseconds. @defaultValue `15000` (the original's period) */
  backlogCheckIntervalMs?: number;
  /** Prefix of the Redis keys (counters, rate limits). @defaultValue `'dsp:push:alerts'` */
  keyPrefix?: string;
  /** Name of the environment in alert texts (`RECEPTION_ENV`). @defaultValue `''` */
  environment?: string;
  /** Alerts being delivered at once; more are dropped (and logged). @defaultValue `100` */
  maxInFlight?: number;
  logger?: Logger;
}

/** Defaults of {@link AlertManagerOptions}. */
export const ALERT_MANAGER_DEFAULTS = {
  backlogCheckIntervalMs: 15_000,
  keyPrefix: 'dsp:push:alerts',
  environment: '',
  maxInFlight: 100,
} as const;

/** What became of one raised alert. */
export interface AlertOutcome {
  kind: AlertKind;
  subscriptionId?: number;
  /** `limited`: another alert of this kind went out within the interval (on any instance). */
  result: 'sent' | 'limited' | 'no-receiver';
  delivered: string[];
  failed: string[];
}

// Counts failures of a subscription in a fixed window shared by all instances; returns the count.
const COUNT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

const split = (list: readonly string[]) => list.map((s) => s.trim()).filter((s) => s !== '');

/**
 * Raises the original's alerts — too many failures of a subscription, one message failing too often, a channel
 * or the main tube backing up — and sends them to the subscription's receivers (e-mail, SMS, webhook names), or
 * to the default receiver when it has none. Failure counts and rate limits live in Redis (`SET NX PX`), so a
 * fleet sends one alert per subscription and kind per `AlarmInterval`, not one per instance.
 */
export class AlertManager {
  readonly #o: AlertManagerOptions & Required<Pick<AlertManagerOptions, keyof typeof ALERT_MANAGER_DEFAULTS>>;
  readonly #log: Logger;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closing: Promise<void> | undefined;
  readonly #onFailed = (message: unknown) => {
    this.#track(this.onPushFailed(message as PushFailedEvent));
  };

  constructor(options: AlertManagerOptions) {
    this.#o = { ...ALERT_MANAGER_DEFAULTS, ...options };
    this.#log = (options.logger ?? noopLogger).child({ component: 'alerts' });
    this.#o.redis.defineCommand('dspAlertCount', { numberOfKeys: 1, lua: COUNT_SCRIPT });
  }

  /** Listens to failed pushes and starts the periodic backlog check. */
  start(): void {
    if (this.#closing) throw new PushError('DSP_PUSH_CLOSED', 'the alert manager is closed');
    if (this.#started) return;
    this.#started = true;
    subscribe(PushChannels.failed, this.#onFailed);
    if (this.#o.backlog) {
      this.#timer = setInterval(() => this.#track(this.checkBacklogs()), this.#o.backlogCheckIntervalMs);
      this.#timer.unref();
    }
  }

  /** Stops listening and waits for alerts being delivered. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#started) unsubscribe(PushChannels.failed, this.#onFailed);
      if (this.#timer) clearInterval(this.#timer);
      await Promise.allSettled([...this.#inFlight]);
      this.#abort.abort();
    })();
    return this.#closing;
  }

  /** Counts a failed push and raises the failure alerts whose thresholds it passes. */
  async onPushFailed(event: PushFailedEvent): Promise<AlertOutcome[]> {
    const sub = await this.#o.subscriptions.get(event.subscriptionId);
    if (!sub?.params.alerts.enabled) return [];
    const a = sub.params.alerts;
    const out: AlertOutcome[] = [];
    const windowMs = Math.max(1, a.errorWindowSec) * 1000;
    const slot = Math.floor(event.at / windowMs);
    const key = `${this.#o.keyPrefix}:fails:${sub.id}:${slot}`;
    const count = Number(
      await (
        this.#o.redis as unknown as { dspAlertCount(k: string, ttl: number): Promise<number> }
      ).dspAlertCount(key, windowMs * 2),
    );
    if (a.subscriptionFailureThreshold > 0 && count >= a.subscriptionFailureThreshold) {
      out.push(
        await this.raise(sub, {
          kind: 'subscription-failures',
          subject: 'Push gateway alert: subscription failing',
          content:
            `Subscriber ${sub.subscriberId} failed ${count} pushes of topic ${sub.topic} within ` +
            `${Math.round(a.errorWindowSec / 60)} min. Subscription id: ${sub.id}, endpoint: ${sub.params.urls.join(' ')}` +
            `, last error: ${event.code} (HTTP ${event.status}).`,
        }),
      );
    }
    const attempts = event.retryTimes + 1;
    if (a.messageFailureThreshold > 0 && attempts >= a.messageFailureThreshold) {
      out.push(
        await this.raise(sub, {
          kind: 'message-failures',
          subject: 'Push gateway alert: message failing',
          content:
            `Subscriber ${sub.subscriberId} failed the same message ${attempts} times` +
            `${event.willRetry ? '' : ' and gave up (dead letter)'}. Subscription id: ${sub.id}, topic: ${sub.topic}, ` +
            `job: ${event.pushJobId}, endpoint: ${event.url}, last error: ${event.code} (HTTP ${event.status}).`,
        }),
      );
    }
    return out;
  }

  /** Reads the backlog once and raises channel, main-tube and global backlog alerts. */
  async checkBacklogs(): Promise<AlertOutcome[]> {
    const source = this.#o.backlog;
    if (!source) return [];
    const snap = await source.backlog({ signal: this.#abort.signal });
    const settings = await this.#o.settings.get();
    const out: AlertOutcome[] = [];
    let total = 0;
    let totalRetry = 0;
    for (const ch of snap.channels) {
      total += ch.ready;
      totalRetry += ch.retryReady;
      const sub = await this.#o.subscriptions.get(ch.subscriptionId);
      if (!sub?.params.alerts.enabled) continue;
      const limit = sub.params.alerts.backlogThreshold;
      if (limit > 0 && (ch.ready >= limit || ch.retryReady >= limit)) {
        out.push(
          await this.raise(sub, {
            kind: 'channel-backlog',
            subject: 'Push gateway alert: channel backing up',
            content:
              `Subscription ${sub.id} (topic ${sub.topic}) has ${ch.ready} messages waiting and ${ch.retryReady} ` +
              `waiting for retry (threshold ${limit}). Raise its concurrency or speed up the worker. Endpoint: ` +
              `${sub.params.urls.join(' ')}, concurrency ${sub.params.concurrency}, interval ${sub.params.intervalMs} ms.`,
          }),
        );
      }
    }
    const env = this.#o.environment ? `${this.#o.environment}: ` : '';
    if (
      settings.NameOfMainQueueBlockedAlertThreshold > 0 &&
      snap.main > settings.NameOfMainQueueBlockedAlertThreshold
    ) {
      out.push(
        await this.raise(undefined, {
          kind: 'main-backlog',
          subject: 'Push gateway alert: main tube backing up',
          content: `${env}the main tube holds ${snap.main} waiting messages (threshold ${settings.NameOfMainQueueBlockedAlertThreshold}).`,
        }),
      );
    }
    const global = settings.GlobalMessageBlockedAlertThreshold;
    if (global > 0 && (total > global || totalRetry > global)) {
      out.push(
        await this.raise(undefined, {
          kind: 'global-backlog',
          subject: 'Push gateway alert: all channels backing up',
          content: `${env}channel tubes hold ${total} waiting messages and retry tubes ${totalRetry} (threshold ${global}).`,
        }),
      );
    }
    return out;
  }

  /**
   * Sends an alert unless one of the same kind for the same subscription (or fleet-wide, without one) went out
   * within the interval on any instance.
   */
  async raise(
    sub: Subscription | undefined,
    alert: { kind: AlertKind; subject: string; content: string },
  ): Promise<AlertOutcome> {
    const settings = await this.#o.settings.get();
    const intervalSec = sub ? sub.params.alerts.alarmIntervalSec : settings.GlobalMessageBlockedAlarmInterval;
    const base = { kind: alert.kind, ...(sub ? { subscriptionId: sub.id } : {}), delivered: [], failed: [] };
    const limitKey = `${this.#o.keyPrefix}:limit:${alert.kind}:${sub ? sub.id : 'global'}`;
    const got = await this.#o.redis.set(
      limitKey,
      String(Date.now()),
      'PX',
      Math.max(1, intervalSec) * 1000,
      'NX',
    );
    if (got !== 'OK') return { ...base, result: 'limited' };
    const full: Alert = { ...alert, subscriptionId: sub?.id, topic: sub?.topic, at: Date.now() };
    const delivered: string[] = [];
    const failed: string[] = [];
    const deliver = async (channel: AlertChannel | undefined, to: readonly string[], a: Alert) => {
      if (!channel || to.length === 0) return false;
      try {
        await channel.send(a, to, { signal: this.#abort.signal });
        delivered.push(channel.name);
      } catch (err) {
        failed.push(channel.name);
        this.#log.warn(
          { err, channel: channel.name, kind: a.kind, subscriptionId: a.subscriptionId },
          'alert not delivered',
        );
      }
      return true;
    };
    let addressed = false;
    if (sub) {
      const a = sub.params.alerts;
      addressed = (await deliver(this.#o.channels.email, split(a.emails), full)) || addressed;
      addressed = (await deliver(this.#o.channels.sms, split(a.phoneNumbers), full)) || addressed;
      addressed = (await deliver(this.#o.channels.webhook, split(a.receivers), full)) || addressed;
    }
    if (!addressed) {
      const receivers = split(settings.DefaultAlarmReceiver.split(','));
      const fallback: Alert = {
        ...full,
        chan: settings.DefaultAlarmChan || undefined,
        content: sub ? `Subscription ${sub.id} has no alert receiver set.\n${full.content}` : full.content,
      };
      addressed = await deliver(this.#o.channels.webhook, receivers, fallback);
    }
    if (!addressed) {
      this.#log.warn({ kind: alert.kind, subscriptionId: sub?.id }, 'alert has no receiver');
      return { ...base, result: 'no-receiver' };
    }
    this.#log.info({ kind: alert.kind, subscriptionId: sub?.id, delivered, failed }, 'alert raised');
    return { ...base, result: 'sent', delivered, failed };
  }

  #track(work: Promise<unknown>): void {
    if (this.#inFlight.size >= this.#o.maxInFlight) {
      this.#log.warn({ max: this.#o.maxInFlight }, 'too many alerts in flight, one dropped');
      return;
    }
    const p = work.catch((err: unknown) => this.#log.warn({ err }, 'alert check failed'));
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p));
  }
}
