import { request } from 'undici';
import { PushError } from '../errors.js';
import type { Alert, AlertChannel } from './alert.js';

/** Options of {@link WebhookAlertChannel}. */
export interface WebhookAlertChannelOptions {
  /** Where alerts are POSTed as JSON (an alarm platform, a chat hook, …). */
  url: string;
  /** Extra request headers, e.g. an authorization token. @defaultValue `{}` */
  headers?: Record<string, string>;
  /** Per request, in milliseconds. @defaultValue `10000` */
  timeoutMs?: number;
}

/** Defaults of {@link WebhookAlertChannelOptions}. */
export const WEBHOOK_ALERT_DEFAULTS = { headers: {}, timeoutMs: 10_000 } as const;

/**
 * Sends one JSON `POST` per alert: `{kind, subject, content, recipients, subscriptionId, topic, chan, at}`;
 * any 2xx answer counts as delivered.
 */
export class WebhookAlertChannel implements AlertChannel {
  readonly name = 'webhook' as const;
  readonly #opts: Required<WebhookAlertChannelOptions>;

  constructor(options: WebhookAlertChannelOptions) {
    if (!/^https?:\/\//i.test(options.url)) {
      throw new PushError('DSP_PUSH_INVALID_ARGUMENT', `alert webhook URL must be http(s): ${options.url}`);
    }
    this.#opts = { ...WEBHOOK_ALERT_DEFAULTS, ...options };
  }

  async send(
    alert: Alert,
    recipients: readonly string[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const body = JSON.stringify({
      kind: alert.kind,
      subject: alert.subject,
      content: alert.content,
      recipients,
      subscriptionId: alert.subscriptionId ?? null,
      topic: alert.topic ?? null,
      chan: alert.chan ?? null,
      at: new Date(alert.at).toISOString(),
    });
    const signal = options.signal
      ? AbortSignal.any([options.signal, AbortSignal.timeout(this.#opts.timeoutMs)])
      : AbortSignal.timeout(this.#opts.timeoutMs);
    let status: number;
    try {
      const res = await request(this.#opts.url, {
        method: 'POST',
        headers: { ...this.#opts.headers, 'content-type': 'application/json' },
        body,
        signal,
      });
      status = res.statusCode;
      await res.body.dump();
    } catch (err) {
      throw new PushError('DSP_PUSH_ALERT_DELIVERY_FAILED', `alert webhook unreachable: ${String(err)}`, {
        cause: err,
      });
    }
    if (status < 200 || status > 299) {
      throw new PushError('DSP_PUSH_ALERT_DELIVERY_FAILED', `alert webhook answered ${status}`);
    }
  }
}
