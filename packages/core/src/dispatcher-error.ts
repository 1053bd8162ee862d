/**
 * Base error for every Dispatcher package. Errors are told apart by `code`, never by message text.
 *
 * `isInstance()` uses a `Symbol.for` marker rather than `instanceof`, so the check still works when two
 * copies of `@dispatcher/core` end up in one dependency tree.
 */
const kDispatcherError = Symbol.for('dispatcher.error');

export interface DispatcherErrorOptions {
  /** The underlying error, kept for logs and `error.cause` chains. */
  cause?: unknown;
  /** Structured context (ids, paths, positions) for logs; never parsed. */
  details?: Record<string, unknown>;
}

export class DispatcherError<C extends string = string> extends Error {
  readonly code: C;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: C, message: string, options: DispatcherErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // The subclass's own name (CoreError, ProxyError…), so packages only declare their code type.
    this.name = new.target.name;
    this.code = code;
    this.details = options.details;
    Object.defineProperty(this, kDispatcherError, { value: true });
  }

  static isInstance(value: unknown): value is DispatcherError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[kDispatcherError] === true
    );
  }

  /** True when `value` is a Dispatcher error carrying `code`. */
  static hasCode(value: unknown, code: string): value is DispatcherError {
    return DispatcherError.isInstance(value) && value.code === code;
  }
}
