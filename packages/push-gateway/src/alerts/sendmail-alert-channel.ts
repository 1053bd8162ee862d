import { spawn } from 'node:child_process';
import { PushError } from '../errors.js';
import type { Alert, AlertChannel } from './alert.js';

/** Options of {@link SendmailAlertChannel}. */
export interface SendmailAlertChannelOptions {
  /** The sendmail binary; it is run as `<path> -t -i` with the message on stdin. @defaultValue `'/usr/sbin/sendmail'` */
  path?: string;
  /** `From:` address. @defaultValue `'medispatcher@localhost'` */
  from?: string;
  /** How long sendmail may run, in milliseconds; it is killed after. @defaultValue `30000` */
  timeoutMs?: number;
}

/** Defaults of {@link SendmailAlertChannelOptions}. */
export const SENDMAIL_ALERT_DEFAULTS = {
  path: '/usr/sbin/sendmail',
  from: 'medispatcher@localhost',
  timeoutMs: 30_000,
} as const;

const EMAIL = /^[\w.+-]+@[\w-]+(\.[\w-]+)*$/;

/** RFC 2047 encoded-word for a UTF-8 header value, so any subject survives and no header can be injected. */
function encodeHeader(value: string): string {
  return /^[\x20-\x7e]*$/.test(value)
    ? value
    : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** E-mails an alert through the local MTA: one message to all receivers, headers read by `sendmail -t`. */
export class SendmailAlertChannel implements AlertChannel {
  readonly name = 'email' as const;
  readonly #opts: Required<SendmailAlertChannelOptions>;

  constructor(options: SendmailAlertChannelOptions = {}) {
    this.#opts = { ...SENDMAIL_ALERT_DEFAULTS, ...options };
    if (!EMAIL.test(this.#opts.from)) {
      throw new PushError('DSP_PUSH_INVALID_ARGUMENT', `invalid From address: ${this.#opts.from}`);
    }
  }

  async send(
    alert: Alert,
    recipients: readonly string[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const to = recipients.map((r) => r.trim()).filter((r) => r !== '');
    const bad = to.filter((r) => !EMAIL.test(r));
    if (bad.length > 0 || to.length === 0) {
      throw new PushError(
        'DSP_PUSH_ALERT_DELIVERY_FAILED',
        `invalid e-mail receivers: ${bad.join(', ') || '(none)'}`,
      );
    }
    const message = [
      `From: ${this.#opts.from}`,
      `To: ${to.join(', ')}`,
      `Subject: ${encodeHeader(alert.subject.replace(/[\r\n]+/g, ' '))}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=UTF-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      alert.content.replace(/\r?\n/g, '\r\n'),
      '',
    ].join('\r\n');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(this.#opts.path, ['-t', '-i'], {
        stdio: ['pipe', 'ignore', 'pipe'],
        timeout: this.#opts.timeoutMs,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => {
        if (stderr.length < 2_000) stderr += d;
      });
      child.stdin.on('error', () => {
        // An early exit closes stdin; the exit code below reports it.
      });
      child.on('error', (err) =>
        reject(
          new PushError('DSP_PUSH_ALERT_DELIVERY_FAILED', `sendmail failed to start: ${err.message}`, {
            cause: err,
          }),
        ),
      );
      child.on('close', (code, signal) => {
        if (code === 0) resolve();
        else {
          reject(
            new PushError(
              'DSP_PUSH_ALERT_DELIVERY_FAILED',
              `sendmail exited with ${code ?? signal}: ${stderr.trim().slice(0, 500)}`,
            ),
          );
        }
      });
      child.stdin.end(message, 'utf8');
    });
  }
}
