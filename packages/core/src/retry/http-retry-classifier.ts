import { CoreError } from '../errors.js';
import type { RetryClassification, RetryClassifier, RetryOutcome } from './retry-classifier.js';

/** Options of {@link httpRetryClassifier}. */
export interface HttpRetryClassifierOptions {
  /**
   * Statuses that mean "try again later". Replaces the default set rather than adding to it; spread
   * `DEFAULT_HTTP_RETRY_CLASSIFIER.retryStatuses` to extend it.
   * @defaultValue 408, 425, 429 and every 5xx (500–599)
   */
  readonly retryStatuses?: Iterable<number>;
  /**
   * Statuses after which the message is dropped instead of dead-lettered (e.g. `[410]` for a push gateway
   * whose device tokens expire). Checked before `retryStatuses`.
   * @defaultValue none
   */
  readonly giveUpStatuses?: Iterable<number>;
  /**
   * Error `code` values (Node system errors, undici, Dispatcher) that mean a transient network failure.
   * Matched anywhere in the error's `cause` chain and in an `AggregateError`'s `errors`, because `fetch`
   * wraps the socket error in a generic `TypeError: fetch failed`. Replaces the default list.
   * @defaultValue `ECONNRESET`, `ECONNREFUSED`, `ECONNABORTED`, `ETIMEDOUT`, `EPIPE`, `ENOTFOUND`,
   * `EAI_AGAIN`, `EHOSTUNREACH`, `ENETUNREACH`, `ENETDOWN`, `EHOSTDOWN`, the undici connect/headers/body
   * timeouts, `UND_ERR_SOCKET`, `UND_ERR_CLOSED`, `UND_ERR_ABORTED`, and `DSP_CORE_ABORTED`
   */
  readonly retryErrorCodes?: Iterable<string>;
  /**
   * Error `name` values that mean the attempt was cut short rather than refused: an aborted or timed-out
   * request says nothing about whether the message is deliverable. Matched like `retryErrorCodes`.
   * @defaultValue `AbortError`, `TimeoutError`
   */
  readonly retryErrorNames?: Iterable<string>;
  /**
   * Classification of an error that matches neither list (a bug, a TLS failure, a refused port, …).
   * @defaultValue `'dead-letter'`
   */
  readonly unknownError?: Exclude<RetryClassification, 'success'>;
  /**
   * Consulted first; returning a classification overrides every rule above, returning `undefined` falls
   * through to them. Use it for cases the sets cannot express (e.g. a 404 that means "already deleted").
   * @defaultValue none
   */
  readonly override?: (outcome: RetryOutcome) => RetryClassification | undefined;
}

const FIVE_XX: readonly number[] = Array.from({ length: 100 }, (_, i) => 500 + i);

/** Defaults for {@link HttpRetryClassifierOptions}. */
export const DEFAULT_HTTP_RETRY_CLASSIFIER = Object.freeze({
  retryStatuses: Object.freeze([408, 425, 429, ...FIVE_XX]),
  giveUpStatuses: Object.freeze([] as number[]),
  retryErrorCodes: Object.freeze([
    'ECONNRESET',
    'ECONNREFUSED',
    'ECONNABORTED',
    'ETIMEDOUT',
    'EPIPE',
    // DNS failures are often transient (resolver restarts, split-horizon flaps); a permanent typo still ends
    // in the dead-letter queue once the policy gives up.
    'ENOTFOUND',
    'EAI_AGAIN',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'ENETDOWN',
    'EHOSTDOWN',
    'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
    'UND_ERR_SOCKET',
    'UND_ERR_CLOSED',
    'UND_ERR_ABORTED',
    'DSP_CORE_ABORTED',
  ]),
  retryErrorNames: Object.freeze(['AbortError', 'TimeoutError']),
  unknownError: 'dead-letter',
} as const satisfies Required<Omit<HttpRetryClassifierOptions, 'override'>>);

const UNKNOWN_ERROR_CLASSES: ReadonlySet<string> = new Set(['retry', 'dead-letter', 'give-up']);
// Bounds the walk over cause chains and AggregateErrors, which may be deep or cyclic.
const MAX_ERRORS_VISITED = 32;

/**
 * The default HTTP classifier. For a status, in order: `override`, `giveUpStatuses` → `give-up`,
 * `retryStatuses` → `retry`, 2xx → `success`, anything else (other 4xx, unfollowed 3xx, …) →
 * `dead-letter`. For an error: `override`, then a matching code or name anywhere in the error tree →
 * `retry`, else `unknownError`.
 *
 * A status that is not an integer in 100–999 throws `DSP_CORE_INVALID_ARGUMENT`: it can only come from a
 * caller bug, and guessing would either lose the message or retry it forever.
 */
export function httpRetryClassifier(options: HttpRetryClassifierOptions = {}): RetryClassifier {
  const defaults = DEFAULT_HTTP_RETRY_CLASSIFIER;
  const retryStatuses = statusSet('retryStatuses', options.retryStatuses ?? defaults.retryStatuses);
  const giveUpStatuses = statusSet('giveUpStatuses', options.giveUpStatuses ?? defaults.giveUpStatuses);
  const retryCodes = new Set<unknown>(options.retryErrorCodes ?? defaults.retryErrorCodes);
  const retryNames = new Set<unknown>(options.retryErrorNames ?? defaults.retryErrorNames);
  const unknownError = options.unknownError ?? defaults.unknownError;
  if (!UNKNOWN_ERROR_CLASSES.has(unknownError)) {
    throw new CoreError(
      'DSP_CORE_INVALID_ARGUMENT',
      `unknownError must be 'retry', 'dead-letter' or 'give-up'; got ${String(unknownError)}`,
      { details: { option: 'unknownError', value: unknownError } },
    );
  }
  const override = options.override;

  return (outcome: RetryOutcome): RetryClassification => {
    const overridden = override?.(outcome);
    if (overridden !== undefined) return overridden;
    if (outcome.kind === 'error') {
      return isTransient(outcome.error, retryCodes, retryNames) ? 'retry' : unknownError;
    }
    const { status } = outcome;
    if (!isStatus(status)) {
      throw new CoreError(
        'DSP_CORE_INVALID_ARGUMENT',
        `status must be an integer in 100-999; got ${status}`,
        {
          details: { status },
        },
      );
    }
    if (giveUpStatuses.has(status)) return 'give-up';
    if (retryStatuses.has(status)) return 'retry';
    if (status >= 200 && status <= 299) return 'success';
    return 'dead-letter';
  };
}

function isStatus(value: number): boolean {
  return Number.isInteger(value) && value >= 100 && value <= 999;
}

function statusSet(name: string, statuses: Iterable<number>): ReadonlySet<number> {
  const set = new Set<number>();
  for (const status of statuses) {
    if (!isStatus(status)) {
      throw new CoreError(
        'DSP_CORE_INVALID_ARGUMENT',
        `${name} must hold integers in 100-999; got ${status}`,
        {
          details: { option: name, value: status },
        },
      );
    }
    set.add(status);
  }
  return set;
}

// Breadth-first over `cause` and AggregateError `errors`, since transports nest the socket error.
function isTransient(error: unknown, codes: ReadonlySet<unknown>, names: ReadonlySet<unknown>): boolean {
  const queue: unknown[] = [error];
  const seen = new Set<unknown>();
  while (queue.length > 0 && seen.size < MAX_ERRORS_VISITED) {
    const current = queue.shift();
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    const record = current as { code?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
    if (codes.has(record.code) || names.has(record.name)) return true;
    queue.push(record.cause);
    if (Array.isArray(record.errors)) queue.push(...record.errors);
  }
  return false;
}
