import { CoreError } from '../errors.js';

/** Constraints checked by {@link requireNumber}. */
export interface NumberConstraints {
  /** Smallest accepted value (inclusive). */
  readonly min: number;
  /** Whether the value must be a whole number (Infinity passes when `allowInfinity` is set). */
  readonly integer?: boolean;
  /** Whether `Infinity` is accepted, meaning "no limit". */
  readonly allowInfinity?: boolean;
}

/**
 * Returns `value` when it is a number meeting `constraints`, else throws `DSP_CORE_INVALID_ARGUMENT` naming
 * the option. Options come from config files and untyped callers, so the static type is not trusted.
 */
export function requireNumber(name: string, value: unknown, constraints: NumberConstraints): number {
  const { min, integer = false, allowInfinity = false } = constraints;
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    value >= min &&
    (value === Number.POSITIVE_INFINITY ? allowInfinity : !integer || Number.isInteger(value));
  if (!ok) {
    const kind = integer ? 'an integer' : 'a number';
    const inf = allowInfinity ? ' (or Infinity)' : '';
    throw new CoreError(
      'DSP_CORE_INVALID_ARGUMENT',
      `${name} must be ${kind} >= ${min}${inf}; got ${String(value)}`,
      {
        details: { option: name, value },
      },
    );
  }
  return value;
}
