/**
 * Messages between the log owner (main thread) and the delivery threads. Compact on purpose: a batch of
 * calls goes as one message, with every body packed into one transferred buffer (no copy on the way).
 */

/** One HTTP call, without its body (that is `bodies[off, off + len)` of its batch). */
export interface WireCall {
  /** Call id, unique per pool. */
  i: number;
  /** `scheme://host[:port]`. */
  o: string;
  /** Path and query. */
  p: string;
  m: string;
  h: Record<string, string | string[]>;
  off: number;
  len: number;
  /** Headers and body timeout, ms. */
  t: number;
}

export type ToThread =
  /** `calls` is the JSON of a `WireCall[]`: one string clones much faster than as many objects. */
  | { type: 'calls'; calls: string; bodies: ArrayBuffer }
  | { type: 'abort'; ids: number[] }
  | { type: 'close' };

/** An error as the retry classifier reads it: name, code, and the causes under it. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  cause?: WireError;
  errors?: WireError[];
}

/** The destination's answer (status, raw Retry-After) or why there was none. */
export type WireResult = { i: number; s: number; ra?: string } | { i: number; e: WireError };

export type FromThread = { type: 'ready' } | { type: 'results'; results: WireResult[] } | { type: 'closed' };

const MAX_DEPTH = 8;

/** Plain copy of an error tree (codes and names survive; a structured clone would drop `code`). */
export function toWireError(err: unknown, depth = 0): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const e = err as Error & { code?: unknown; errors?: unknown };
  const out: WireError = { name: e.name, message: e.message };
  if (typeof e.code === 'string') out.code = e.code;
  if (depth < MAX_DEPTH) {
    if (e.cause !== undefined) out.cause = toWireError(e.cause, depth + 1);
    if (Array.isArray(e.errors)) out.errors = e.errors.map((x) => toWireError(x, depth + 1));
  }
  return out;
}

/** The error again, as an `Error` tree with the same names and codes. */
export function fromWireError(w: WireError): Error {
  const err = new Error(w.message) as Error & { code?: string; errors?: Error[] };
  err.name = w.name;
  if (w.code !== undefined) err.code = w.code;
  if (w.cause) err.cause = fromWireError(w.cause);
  if (w.errors) err.errors = w.errors.map(fromWireError);
  return err;
}
