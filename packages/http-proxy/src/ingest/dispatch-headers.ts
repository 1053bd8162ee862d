/**
 * The dispatcher's control headers (`X-Dispatcher-*`): where to deliver a request and how.
 *
 * Parsing is strict on purpose: a control header that is misspelled in value is a 400 now, not a message
 * that silently behaves differently from what the caller meant hours later. Every error names the header
 * and the accepted form.
 */
import { parseHttpDate } from '@dispatcher/core';

/** Upper bounds for the numeric control headers. */
export interface DispatchHeaderLimits {
  /**
   * Largest accepted `X-Dispatcher-Timeout`, in milliseconds.
   * @defaultValue 600_000 (10 minutes)
   */
  maxTimeoutMs: number;
  /**
   * Largest accepted `X-Dispatcher-Retry-Limit` (number of retries after the first attempt).
   * @defaultValue 100
   */
  maxRetryLimit: number;
  /**
   * Largest accepted `X-Dispatcher-Delay`, and how far in the future `X-Dispatcher-Not-Before` may be, in
   * milliseconds.
   * @defaultValue 2_592_000_000 (30 days)
   */
  maxDelayMs: number;
  /**
   * Longest accepted `X-Dispatcher-Idempotency-Key`, in characters.
   * @defaultValue 256
   */
  maxIdempotencyKeyLength: number;
}

/** Defaults for {@link DispatchHeaderLimits}. */
export const DEFAULT_DISPATCH_HEADER_LIMITS: Readonly<DispatchHeaderLimits> = Object.freeze({
  maxTimeoutMs: 10 * 60_000,
  maxRetryLimit: 100,
  maxDelayMs: 30 * 24 * 60 * 60_000,
  maxIdempotencyKeyLength: 256,
});

/** Delivery options taken from the control headers. Absent headers leave their field undefined. */
export interface DispatchOptions {
  /**
   * Base URL: `scheme://host[:port]` plus an optional base path that {@link buildTargetPath} prefixes to the
   * request path. Never has userinfo, query or fragment.
   */
  destination: URL;
  /** Per-attempt timeout, in milliseconds (`X-Dispatcher-Timeout`). */
  timeoutMs?: number;
  /** Retries after the first attempt (`X-Dispatcher-Retry-Limit`); 0 means one attempt only. */
  retryLimit?: number;
  /** Wait before the first attempt, in milliseconds (`X-Dispatcher-Delay`). */
  delayMs?: number;
  /**
   * Earliest first attempt, epoch milliseconds (`X-Dispatcher-Not-Before`). May be in the past, which
   * means "now". See {@link firstAttemptAt} for how it combines with `delayMs`.
   */
  notBefore?: number;
  /** Caller's deduplication key (`X-Dispatcher-Idempotency-Key`). */
  idempotencyKey?: string;
  /** Notified after a successful delivery (`X-Dispatcher-Callback`). */
  callbackUrl?: URL;
  /** Notified when delivery is given up (`X-Dispatcher-Failure-Callback`). */
  failureCallbackUrl?: URL;
}

/** Machine-readable reasons a set of control headers is refused. */
export type DispatchHeaderError =
  | 'missing_destination'
  | 'conflicting_destination'
  | 'invalid_destination'
  | 'repeated_header'
  | 'invalid_timeout'
  | 'invalid_retry_limit'
  | 'invalid_delay'
  | 'invalid_not_before'
  | 'invalid_idempotency_key'
  | 'invalid_callback'
  | 'invalid_failure_callback';

/** Outcome of {@link parseDispatchHeaders}. */
export type ParseResult =
  | { ok: true; options: DispatchOptions }
  | { ok: false; status: 400; error: DispatchHeaderError; message: string };

type Headers = Record<string, string | string[] | undefined>;
type Failure = Extract<ParseResult, { ok: false }>;

/** README name of the destination header. */
const ORIGIN_HOST = 'x-dispatcher-origin-host';
/** The name the original Go implementation read. */
const ORIGINAL_HOST = 'x-dispatcher-original-host';

const DISPLAY_NAMES: Record<string, string> = {
  [ORIGIN_HOST]: 'X-Dispatcher-Origin-Host',
  [ORIGINAL_HOST]: 'X-Dispatcher-Original-Host',
  'x-dispatcher-timeout': 'X-Dispatcher-Timeout',
  'x-dispatcher-retry-limit': 'X-Dispatcher-Retry-Limit',
  'x-dispatcher-delay': 'X-Dispatcher-Delay',
  'x-dispatcher-not-before': 'X-Dispatcher-Not-Before',
  'x-dispatcher-idempotency-key': 'X-Dispatcher-Idempotency-Key',
  'x-dispatcher-callback': 'X-Dispatcher-Callback',
  'x-dispatcher-failure-callback': 'X-Dispatcher-Failure-Callback',
};

function fail(error: DispatchHeaderError, message: string): Failure {
  return { ok: false, status: 400, error, message };
}

// Echoes the caller's value, bounded and quoted so control characters cannot break a log line.
function shown(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

/**
 * Collects the control headers under lowercase names. Names that differ only in case count as a repeat,
 * as does an array value (Node gives arrays for repeats when asked to keep them apart).
 */
function collect(headers: Headers): { values: Map<string, string> } | Failure {
  const values = new Map<string, string>();
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (value === undefined || !name.startsWith('x-dispatcher-')) continue;
    const display = DISPLAY_NAMES[name] ?? rawName;
    if (Array.isArray(value) || values.has(name)) {
      return fail('repeated_header', `${display} must be sent once; it was repeated`);
    }
    values.set(name, value);
  }
  return { values };
}

/** Whether the request carries a destination header (either spelling), i.e. is meant for the dispatcher. */
export function hasDestinationHeader(headers: Headers): boolean {
  return Object.entries(headers).some(([name, value]) => {
    const lower = name.toLowerCase();
    return value !== undefined && (lower === ORIGIN_HOST || lower === ORIGINAL_HOST);
  });
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

function parseDestination(name: string, value: string): URL | Failure {
  const form = `${name} must be host[:port] or http(s)://host[:port][/base-path], without credentials, query or fragment`;
  if (value === '') return fail('invalid_destination', `${form}; it was empty`);
  // Checked on the text because URL drops an empty "?" or "#".
  if (value.includes('?') || value.includes('#')) {
    return fail('invalid_destination', `${form}; got ${shown(value)}`);
  }
  let url: URL;
  try {
    // The original dispatcher took a bare host, so no scheme means http.
    url = new URL(SCHEME.test(value) ? value : `http://${value}`);
  } catch {
    return fail('invalid_destination', `${form}; ${shown(value)} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return fail('invalid_destination', `${form}; scheme ${shown(url.protocol)} is not allowed`);
  }
  if (url.username !== '' || url.password !== '') {
    return fail('invalid_destination', `${form}; credentials are not allowed in ${name}`);
  }
  if (url.hostname === '') return fail('invalid_destination', `${form}; got ${shown(value)}`);
  return url;
}

function resolveDestination(values: Map<string, string>): URL | Failure {
  const origin = values.get(ORIGIN_HOST);
  const original = values.get(ORIGINAL_HOST);
  if (origin === undefined && original === undefined) {
    return fail(
      'missing_destination',
      'X-Dispatcher-Origin-Host is required: the destination as host[:port] or http(s)://host[:port][/base-path]',
    );
  }
  const a = origin === undefined ? undefined : parseDestination('X-Dispatcher-Origin-Host', origin);
  const b = original === undefined ? undefined : parseDestination('X-Dispatcher-Original-Host', original);
  if (a !== undefined && !(a instanceof URL)) return a;
  if (b !== undefined && !(b instanceof URL)) return b;
  if (a !== undefined && b !== undefined && a.href !== b.href) {
    return fail(
      'conflicting_destination',
      `X-Dispatcher-Origin-Host (${shown(origin ?? '')}) and X-Dispatcher-Original-Host (${shown(original ?? '')}) name different destinations; send one of them`,
    );
  }
  return (a ?? b)!;
}

// Digits only: no sign, exponent, fraction, hex or surrounding whitespace. 15 digits keep the value
// exact (below 2^53) before any comparison.
function parseInteger(value: string): number | undefined {
  return /^\d{1,15}$/.test(value) ? Number(value) : undefined;
}

function parseBoundedInteger(
  values: Map<string, string>,
  name: string,
  min: number,
  max: number,
  unit: string,
  error: DispatchHeaderError,
): number | undefined | Failure {
  const value = values.get(name);
  if (value === undefined) return undefined;
  const n = parseInteger(value);
  if (n === undefined || n < min || n > max) {
    return fail(
      error,
      `${DISPLAY_NAMES[name]} must be a whole number ${unit}from ${min} to ${max}; got ${shown(value)}`,
    );
  }
  return n;
}

function parseCallback(
  values: Map<string, string>,
  name: string,
  error: DispatchHeaderError,
): URL | undefined | Failure {
  const value = values.get(name);
  if (value === undefined) return undefined;
  const form = `${DISPLAY_NAMES[name]} must be an absolute http(s) URL without credentials`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(error, `${form}; got ${shown(value)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
    return fail(error, `${form}; got ${shown(value)}`);
  }
  return url;
}

function isFailure(value: unknown): value is Failure {
  return typeof value === 'object' && value !== null && 'ok' in value && value.ok === false;
}

/**
 * Parses the control headers of an incoming request.
 *
 * - `X-Dispatcher-Origin-Host` (README name) or `X-Dispatcher-Original-Host` (what the original Go
 *   dispatcher read): required; both may be sent only if they name the same destination. `host[:port]`
 *   means `http://host[:port]`; `http(s)://host[:port]/base` adds a base path.
 * - `X-Dispatcher-Timeout`: milliseconds, 1..`maxTimeoutMs`.
 * - `X-Dispatcher-Retry-Limit`: 0..`maxRetryLimit`.
 * - `X-Dispatcher-Delay`: milliseconds, 0..`maxDelayMs`.
 * - `X-Dispatcher-Not-Before`: an HTTP-date no more than `maxDelayMs` after `now` (past dates are fine).
 * - `X-Dispatcher-Idempotency-Key`: 1..`maxIdempotencyKeyLength` visible ASCII characters.
 * - `X-Dispatcher-Callback`, `X-Dispatcher-Failure-Callback`: absolute http(s) URLs.
 *
 * Any control header sent twice is refused. Other `X-Dispatcher-*` headers are ignored here. Values are not
 * trimmed (Node already strips surrounding whitespace from header values).
 *
 * The destination is only checked for shape; whether it may be called is the destination policy's job, as
 * is checking the callback URLs.
 *
 * @param now - epoch milliseconds, for `X-Dispatcher-Not-Before`
 */
export function parseDispatchHeaders(
  headers: Headers,
  limits: DispatchHeaderLimits,
  now: number,
): ParseResult {
  const collected = collect(headers);
  if (isFailure(collected)) return collected;
  const { values } = collected;

  const destination = resolveDestination(values);
  if (!(destination instanceof URL)) return destination;
  const options: DispatchOptions = { destination };

  const timeoutMs = parseBoundedInteger(
    values,
    'x-dispatcher-timeout',
    1,
    limits.maxTimeoutMs,
    'of milliseconds ',
    'invalid_timeout',
  );
  if (isFailure(timeoutMs)) return timeoutMs;
  if (timeoutMs !== undefined) options.timeoutMs = timeoutMs;

  const retryLimit = parseBoundedInteger(
    values,
    'x-dispatcher-retry-limit',
    0,
    limits.maxRetryLimit,
    '',
    'invalid_retry_limit',
  );
  if (isFailure(retryLimit)) return retryLimit;
  if (retryLimit !== undefined) options.retryLimit = retryLimit;

  const delayMs = parseBoundedInteger(
    values,
    'x-dispatcher-delay',
    0,
    limits.maxDelayMs,
    'of milliseconds ',
    'invalid_delay',
  );
  if (isFailure(delayMs)) return delayMs;
  if (delayMs !== undefined) options.delayMs = delayMs;

  const notBeforeText = values.get('x-dispatcher-not-before');
  if (notBeforeText !== undefined) {
    const notBefore = parseHttpDate(notBeforeText, now);
    if (notBefore === undefined) {
      return fail(
        'invalid_not_before',
        `X-Dispatcher-Not-Before must be an HTTP-date such as "Sun, 06 Nov 1994 08:49:37 GMT"; got ${shown(notBeforeText)}`,
      );
    }
    if (notBefore - now > limits.maxDelayMs) {
      return fail(
        'invalid_not_before',
        `X-Dispatcher-Not-Before must be at most ${limits.maxDelayMs} ms in the future; got ${shown(notBeforeText)}`,
      );
    }
    options.notBefore = notBefore;
  }

  const key = values.get('x-dispatcher-idempotency-key');
  if (key !== undefined) {
    if (!/^[\x21-\x7e]+$/.test(key) || key.length > limits.maxIdempotencyKeyLength) {
      return fail(
        'invalid_idempotency_key',
        `X-Dispatcher-Idempotency-Key must be 1 to ${limits.maxIdempotencyKeyLength} visible ASCII characters (no spaces); got ${shown(key)}`,
      );
    }
    options.idempotencyKey = key;
  }

  const callbackUrl = parseCallback(values, 'x-dispatcher-callback', 'invalid_callback');
  if (isFailure(callbackUrl)) return callbackUrl;
  if (callbackUrl !== undefined) options.callbackUrl = callbackUrl;

  const failureCallbackUrl = parseCallback(
    values,
    'x-dispatcher-failure-callback',
    'invalid_failure_callback',
  );
  if (isFailure(failureCallbackUrl)) return failureCallbackUrl;
  if (failureCallbackUrl !== undefined) options.failureCallbackUrl = failureCallbackUrl;

  return { ok: true, options };
}

/**
 * When the first attempt is due: the later of `now + delayMs` and `notBefore`, and never before `now`.
 *
 * @param now - epoch milliseconds at ingest
 */
export function firstAttemptAt(options: Pick<DispatchOptions, 'delayMs' | 'notBefore'>, now: number): number {
  return Math.max(now + (options.delayMs ?? 0), options.notBefore ?? now);
}

/**
 * The exact request target to send to the destination: the destination's base path (without its trailing
 * slash) followed by the incoming path and query, byte for byte. Nothing is normalized — `..`, `%2F` and
 * the query reach the destination as the caller sent them. Pass it as undici's `path` with the
 * destination's `origin`.
 *
 * The join is textual, so a request path like `//other.host/x` stays a path on the destination host.
 *
 * @param rawUrl - the incoming request target in origin-form (`/a/b?x=1`), e.g. fastify's `request.url`
 * @throws TypeError when `rawUrl` does not start with `/`
 */
export function buildTargetPath(destination: URL, rawUrl: string): string {
  if (!rawUrl.startsWith('/'))
    throw new TypeError(`Request target must start with "/"; got ${shown(rawUrl)}`);
  const base = destination.pathname.endsWith('/') ? destination.pathname.slice(0, -1) : destination.pathname;
  return `${base}${rawUrl}`;
}

/**
 * The full target URL: the destination's origin plus {@link buildTargetPath}.
 *
 * The WHATWG URL this returns cannot hold every path exactly — it resolves `.`/`..` (also `%2e`) segments
 * and percent-encodes a few characters such as `'` in the query — so use it for logging and origin checks,
 * and send `buildTargetPath()` as the request path to keep the bytes.
 *
 * @throws TypeError when `rawUrl` does not start with `/`
 */
export function buildTargetUrl(destination: URL, rawUrl: string): URL {
  return new URL(`${destination.origin}${buildTargetPath(destination, rawUrl)}`);
}
