import { parseRetryAfter } from '@dispatcher/core';
import type { PushErrorCode } from '../errors.js';
import type { SuccessMode } from '../subscriptions/subscription.js';

/** A subscriber's answer, as far as the outcome needs it. */
export interface PushResponse {
  readonly status: number;
  readonly body: string;
  readonly retryAfter?: string | undefined;
}

/** Result of one attempt. */
export type PushOutcome =
  | { readonly ok: true; readonly status: number }
  | {
      readonly ok: false;
      readonly status: number;
      readonly code: PushErrorCode;
      /** Server's requested wait (429 / 503 `Retry-After`), ms. */
      readonly retryAfterMs?: number | undefined;
      readonly detail: string;
    };

/**
 * The original's rule (`legacy-status`): HTTP 200 and a JSON object whose `status`, printed, is `1` (`1` and
 * `"1"` both count). `any-2xx` accepts any 2xx status.
 */
export function judgeResponse(res: PushResponse, mode: SuccessMode): PushOutcome {
  const retryAfterMs = parseRetryAfter(res.retryAfter);
  const badStatus = mode === 'any-2xx' ? res.status < 200 || res.status >= 300 : res.status !== 200;
  if (badStatus)
    return {
      ok: false,
      status: res.status,
      code: 'DSP_PUSH_HTTP_STATUS',
      retryAfterMs,
      detail: res.body.slice(0, 2_000),
    };
  if (mode === 'any-2xx') return { ok: true, status: res.status };
  let status: unknown;
  try {
    const parsed: unknown = JSON.parse(res.body);
    status =
      parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>).status : undefined;
  } catch {
    status = undefined;
  }
  if (status !== undefined && status !== null && String(status) === '1') return { ok: true, status: 200 };
  return {
    ok: false,
    status: 200,
    code: 'DSP_PUSH_HTTP_REJECTED',
    retryAfterMs,
    detail: res.body.slice(0, 2_000),
  };
}
