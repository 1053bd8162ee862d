/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the receiver can check that a delivery came
 * from us, was not altered, and is recent.
 *
 * Signed content is `${msgId}.${timestampSec}.${body}` with the body's exact bytes; the signature is
 * HMAC-SHA256 under the secret, sent as `webhook-signature: v1,<base64>`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { CoreError } from '../errors.js';

/** The three Standard Webhooks headers. */
export type WebhookSignatureHeaders = Record<
  'webhook-id' | 'webhook-timestamp' | 'webhook-signature',
  string
>;

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// The id travels in a header and is part of the signed text, so it must be a plain header token.
const MSG_ID = /^[\x21-\x7e]+$/;

/** The HMAC key: `whsec_<base64>` is decoded (the Standard Webhooks form); anything else is used as UTF-8. */
function secretKey(secret: string): Buffer {
  if (secret.startsWith(SECRET_PREFIX)) {
    const encoded = secret.slice(SECRET_PREFIX.length);
    if (encoded === '' || !BASE64.test(encoded)) {
      throw new CoreError(
        'DSP_CORE_WEBHOOK_SECRET_INVALID',
        'Webhook secret starting with "whsec_" must continue with base64',
      );
    }
    return Buffer.from(encoded, 'base64');
  }
  if (secret === '')
    throw new CoreError('DSP_CORE_WEBHOOK_SECRET_INVALID', 'Webhook secret must not be empty');
  return Buffer.from(secret, 'utf8');
}

// The timestamp is signed as text so a verifier signs exactly what the header carried.
function sign(key: Buffer, msgId: string, timestamp: string, body: Uint8Array): Buffer {
  return createHmac('sha256', key).update(`${msgId}.${timestamp}.`).update(body).digest();
}

/**
 * Signs a delivery.
 *
 * @param secret - `whsec_<base64>` (decoded) or any other non-empty string (its UTF-8 bytes)
 * @param msgId - stable across retries of the same message, so receivers can deduplicate
 * @param timestampSec - Unix time of this attempt, in seconds
 * @param body - the exact bytes that will be sent
 * @throws CoreError `DSP_CORE_WEBHOOK_SECRET_INVALID` for an empty or malformed secret;
 *   `DSP_CORE_INVALID_ARGUMENT` for an id that is not visible ASCII or a timestamp that is not a
 *   non-negative integer
 */
export function signWebhook(
  secret: string,
  msgId: string,
  timestampSec: number,
  body: Uint8Array,
): WebhookSignatureHeaders {
  checkSignable(msgId, timestampSec);
  return signedHeaders(secretKey(secret), msgId, timestampSec, body);
}

/** Signs deliveries under one secret; see {@link signWebhook} for the arguments and errors. */
export type WebhookSigner = (
  msgId: string,
  timestampSec: number,
  body: Uint8Array,
) => WebhookSignatureHeaders;

/**
 * A {@link WebhookSigner} for `secret`, decoded once here: a sender checks its secret when it starts rather
 * than at its first delivery, and does not decode it again for every one.
 *
 * @throws CoreError `DSP_CORE_WEBHOOK_SECRET_INVALID` for an empty or malformed secret
 */
export function webhookSigner(secret: string): WebhookSigner {
  const key = secretKey(secret);
  return (msgId, timestampSec, body) => {
    checkSignable(msgId, timestampSec);
    return signedHeaders(key, msgId, timestampSec, body);
  };
}

function checkSignable(msgId: string, timestampSec: number): void {
  if (!MSG_ID.test(msgId)) {
    throw new CoreError('DSP_CORE_INVALID_ARGUMENT', 'Webhook message id must be non-empty visible ASCII');
  }
  if (!Number.isSafeInteger(timestampSec) || timestampSec < 0) {
    throw new CoreError(
      'DSP_CORE_INVALID_ARGUMENT',
      `Webhook timestamp must be a non-negative integer of seconds; got ${timestampSec}`,
    );
  }
}

function signedHeaders(
  key: Buffer,
  msgId: string,
  timestampSec: number,
  body: Uint8Array,
): WebhookSignatureHeaders {
  const signature = sign(key, msgId, String(timestampSec), body).toString('base64');
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': `v1,${signature}`,
  };
}

/** Options of {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  /**
   * How far the timestamp may be from `now`, either way, in seconds (replay protection).
   * @defaultValue 300
   */
  toleranceSec?: number;
  /**
   * Current time, epoch milliseconds.
   * @defaultValue Date.now()
   */
  now?: number;
}

/** Defaults of {@link VerifyWebhookOptions} (`now` defaults to the time of the call). */
export const DEFAULT_VERIFY_WEBHOOK_OPTIONS: Readonly<{ toleranceSec: number }> = Object.freeze({
  toleranceSec: 300,
});

/** Outcome of {@link verifyWebhook}. */
export type VerifyWebhookResult =
  | { ok: true }
  | {
      ok: false;
      reason:
        | 'missing_headers'
        | 'invalid_timestamp'
        | 'timestamp_out_of_tolerance'
        | 'no_matching_signature';
    };

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && typeof value === 'string') return value;
  }
  return undefined;
}

/**
 * Verifies a signed delivery as a receiver would: all three headers present, timestamp within
 * `toleranceSec` of `now`, and at least one `v1,` entry of the space-separated `webhook-signature` list
 * matching (compared in constant time). Other versions in the list are ignored, which is what lets a
 * sender rotate secrets by sending several signatures.
 *
 * @param headers - header names in any case
 * @param body - the exact bytes received
 * @throws CoreError `DSP_CORE_WEBHOOK_SECRET_INVALID` for an empty or malformed secret;
 *   `DSP_CORE_INVALID_ARGUMENT` for a negative `toleranceSec` or a `now` that is not finite
 */
export function verifyWebhook(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: Uint8Array,
  options: VerifyWebhookOptions = {},
): VerifyWebhookResult {
  const key = secretKey(secret);
  const { toleranceSec = DEFAULT_VERIFY_WEBHOOK_OPTIONS.toleranceSec, now = Date.now() } = options;
  if (!(toleranceSec >= 0) || !Number.isFinite(now)) {
    throw new CoreError('DSP_CORE_INVALID_ARGUMENT', 'toleranceSec must be >= 0 and now a finite number');
  }
  const msgId = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (msgId === undefined || timestamp === undefined || signatures === undefined) {
    return { ok: false, reason: 'missing_headers' };
  }
  if (!/^\d{1,15}$/.test(timestamp)) return { ok: false, reason: 'invalid_timestamp' };
  if (Math.abs(now / 1000 - Number(timestamp)) > toleranceSec) {
    return { ok: false, reason: 'timestamp_out_of_tolerance' };
  }
  const expected = sign(key, msgId, timestamp, body);
  for (const entry of signatures.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma === -1 || entry.slice(0, comma) !== 'v1') continue;
    const candidate = Buffer.from(entry.slice(comma + 1), 'base64');
    // Length is public (always 32 for SHA-256); only the contents need a constant-time compare.
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) return { ok: true };
  }
  return { ok: false, reason: 'no_matching_signature' };
}
