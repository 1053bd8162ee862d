import { createHmac } from 'node:crypto';

/**
 * Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`)
 * for `body`. The secret is `whsec_<base64>` (or raw text). Seam until `signWebhook` from
 * `@dispatcher/core/http` is available.
 */
export function standardWebhookHeaders(
  secret: string,
  id: string,
  body: string,
  nowSec = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret);
  const signature = createHmac('sha256', key).update(`${id}.${nowSec}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(nowSec), 'webhook-signature': `v1,${signature}` };
}
