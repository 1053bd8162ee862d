import { CoreError } from '../errors.js';
import { parseHttpDate } from './http-date.js';
import { requireNumber } from './require-number.js';
import { defaultClock } from './retry-policy.js';

/** Options of {@link parseRetryAfter} and {@link parseRetryAfterOrThrow}. */
export interface RetryAfterOptions {
  /**
   * The current time in epoch milliseconds; an HTTP-date is converted to a wait relative to it.
   * @defaultValue `Date.now()` at call time
   */
  readonly now?: number;
  /**
   * Largest wait returned, in milliseconds; longer values are clamped to it. Guards against a hostile or
   * broken server parking a message for years. Whole number >= 0.
   * @defaultValue `86_400_000` (24 hours)
   */
  readonly maxMs?: number;
}

/** Defaults for {@link RetryAfterOptions} (`now` defaults to the clock at call time). */
export const DEFAULT_RETRY_AFTER_OPTIONS: Readonly<Required<Omit<RetryAfterOptions, 'now'>>> = Object.freeze({
  maxMs: 86_400_000,
});

const DELTA_SECONDS = /^\d+$/;
// Header values may carry optional whitespace (SP / HTAB) around them; nothing else is trimmed.
const OWS = /^[ \t]+|[ \t]+$/g;

/**
 * Parses an HTTP `Retry-After` value (delta-seconds or an HTTP-date, see `parseHttpDate`) into a wait in
 * milliseconds from `now`, clamped to `[0, maxMs]`; a date in the past gives `0`.
 *
 * Returns `undefined` when the header is absent (`null`/`undefined`) or invalid (`""`, `"-1"`, `"1.5"`,
 * garbage), so "no usable hint" is never confused with "retry immediately" (`0`). Invalid options still
 * throw `DSP_CORE_INVALID_ARGUMENT`: they are programming errors, not wire input.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  options: RetryAfterOptions = {},
): number | undefined {
  const now: unknown = options.now ?? defaultClock();
  if (typeof now !== 'number' || !Number.isFinite(now)) {
    throw new CoreError(
      'DSP_CORE_INVALID_ARGUMENT',
      `now must be finite epoch milliseconds; got ${String(now)}`,
      {
        details: { option: 'now', value: now },
      },
    );
  }
  const maxMs = requireNumber('maxMs', options.maxMs ?? DEFAULT_RETRY_AFTER_OPTIONS.maxMs, {
    min: 0,
    integer: true,
  });
  if (typeof value !== 'string') return undefined;
  const text = value.replace(OWS, '');
  let waitMs: number;
  if (DELTA_SECONDS.test(text)) {
    // Very long digit strings become Infinity, which the clamp below handles.
    waitMs = Number(text) * 1000;
  } else {
    const at = parseHttpDate(text, now);
    if (at === undefined) return undefined;
    waitMs = at - now;
  }
  return Math.min(Math.max(waitMs, 0), maxMs);
}

/**
 * Like {@link parseRetryAfter}, but throws `DSP_CORE_RETRY_AFTER_INVALID` (with the raw value in
 * `details.value`) instead of returning `undefined`, for callers that treat a malformed hint as an error.
 */
export function parseRetryAfterOrThrow(value: string, options: RetryAfterOptions = {}): number {
  const waitMs = parseRetryAfter(value, options);
  if (waitMs === undefined) {
    const shown = typeof value === 'string' && value.length > 64 ? `${value.slice(0, 64)}…` : value;
    throw new CoreError(
      'DSP_CORE_RETRY_AFTER_INVALID',
      `invalid Retry-After value: ${JSON.stringify(shown)}`,
      {
        details: { value },
      },
    );
  }
  return waitMs;
}
