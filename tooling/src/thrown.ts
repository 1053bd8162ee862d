/** What a test usually reads off an error: its code, message and details. */
export interface ThrownError {
  readonly code?: unknown;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/**
 * The error `fn` throws, for assertions on its fields (`expect(thrown(f)).toMatchObject({ code })`);
 * throws (failing the test) when `fn` returns normally.
 */
export function thrown<E = ThrownError>(fn: () => unknown): E {
  try {
    fn();
  } catch (error) {
    return error as E;
  }
  throw new Error('expected a throw');
}
