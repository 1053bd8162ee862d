import { request } from 'undici';
import { PushError } from '../errors.js';
import type { Alert, AlertChannel } from './alert.js';

/** Options of {@link SmsAlertChannel} (the original's `[AlerterSms]` section). */
export interface SmsAlertChannelOptions {
  /** The SMS gateway's URL (`Gateway`). */
  gateway: string;
  /** Sent in the field mapped from `User`. @defaultValue `''` */
  user?: string;
  /** Sent in the field mapped from `Password`. @defaultValue `''` */
  password?: string;
  /**
   * Form field names for `User`, `Password`, `Subject`, `Content`, `Recipient` (`PostFieldsMap`); a value
   * without a mapping is not sent. @defaultValue `{ Recipient: 'recipient', Content: 'content' }`
   */
  fieldsMap?: Record<string, string>;
  /** The exact body that acknowledges a message (`AckStr`); empty accepts any 200. @defaultValue `''` */
  ackStr?: string;
  /** Per request, in milliseconds. @defaultValue `10000` */
  timeoutMs?: number;
}

/** Defaults of {@link SmsAlertChannelOptions}. */
export const SMS_ALERT_DEFAULTS = {
  user: '',
  password: '',
  fieldsMap: { Recipient: 'recipient', Content: 'content' },
  ackStr: '',
  timeoutMs: 10_000,
} as const;

const PHONE = /^\+?\d{1,15}(-\d{1,6}){0,4}$/;

/** One form-encoded `POST` per phone number, as the original's SMS proxy did; 200 (+ `ackStr`) = accepted. */
export class SmsAlertChannel implements AlertChannel {
  readonly name = 'sms' as const;
  readonly #opts: Required<SmsAlertChannelOptions>;

  constructor(options: SmsAlertChannelOptions) {
    if (!/^https?:\/\//i.test(options.gateway)) {
      throw new PushError('DSP_PUSH_INVALID_ARGUMENT', `SMS gateway must be http(s): ${options.gateway}`);
    }
    this.#opts = { ...SMS_ALERT_DEFAULTS, ...options };
  }

  async send(
    alert: Alert,
    recipients: readonly string[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const errors: string[] = [];
    for (const raw of recipients) {
      const phone = raw.trim();
      if (!PHONE.test(phone)) {
        errors.push(`invalid phone number '${phone}'`);
        continue;
      }
      const values: Record<string, string> = {
        User: this.#opts.user,
        Password: this.#opts.password,
        Subject: alert.subject,
        Content: alert.content,
        Recipient: phone,
      };
      const form = new URLSearchParams();
      for (const [name, field] of Object.entries(this.#opts.fieldsMap)) {
        const value = values[name];
        if (value !== undefined) form.set(field, value);
      }
      const timeout = AbortSignal.timeout(this.#opts.timeoutMs);
      try {
        const res = await request(this.#opts.gateway, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
          signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
        });
        const text = await res.body.text();
        if (res.statusCode !== 200) errors.push(`${phone}: gateway answered ${res.statusCode}`);
        else if (this.#opts.ackStr !== '' && text.trim() !== this.#opts.ackStr) {
          errors.push(`${phone}: gateway answered '${text.slice(0, 100)}', not '${this.#opts.ackStr}'`);
        }
      } catch (err) {
        errors.push(`${phone}: ${String(err)}`);
      }
    }
    if (errors.length > 0) {
      throw new PushError('DSP_PUSH_ALERT_DELIVERY_FAILED', `SMS alert not delivered: ${errors.join('; ')}`);
    }
  }
}
