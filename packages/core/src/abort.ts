import { CoreError } from './errors.js';

/** The error to reject with when `signal` aborts: its reason when that is an Error, else a coded one. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason;
  return new CoreError('DSP_CORE_ABORTED', 'the operation was aborted', { cause: reason });
}

/** Throws the abort reason when `signal` has already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * Races `promise` against `signal`: rejects with the abort reason as soon as the signal fires. The
 * underlying work is not cancelled (callers that can cancel should pass the signal further down).
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Longest delay `setTimeout` honours (2^31-1 ms, about 24.8 days): Node fires a longer one at once, so
 * longer waits must be made in steps of at most this.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Resolves after `ms`, or rejects with the abort reason when `signal` fires first. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal ? abortReason(signal) : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
