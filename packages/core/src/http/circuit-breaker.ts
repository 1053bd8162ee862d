/**
 * Per-destination circuit breaker: stops hammering a destination that keeps failing, and probes it with a
 * single request once a cooldown has passed.
 *
 * ```
 *            failure (count < threshold)
 *            success (count := 0)
 *              ┌──────┐
 *              ▼      │
 *          ┌──────────┴─┐  threshold consecutive failures   ┌────────┐
 *   ──────▶│   closed   │──────────────────────────────────▶│  open  │◀─┐
 *          └────────────┘                                   └───┬────┘  │
 *                ▲                                              │       │ probe failed
 *                │ probe succeeded                canAttempt()  │       │ (cooldown doubles,
 *                │ (cooldown reset)              after cooldown │       │  up to maxCooldownMs)
 *                │                                              ▼       │
 *                │                                        ┌───────────┐ │
 *                └────────────────────────────────────────│ half-open │─┘
 *                                                         └───────────┘
 *                                              one probe in flight; canAttempt() is false
 * ```
 *
 * Pure and synchronous: time comes only from the injected clock, and nothing is scheduled. Outcomes are not
 * tied to attempts, so in half-open the first outcome reported counts as the probe's.
 */
import { CoreError } from '../errors.js';

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /**
   * Consecutive failures that open the circuit. An integer ≥ 1.
   * @defaultValue 5
   */
  failureThreshold?: number;
  /**
   * Time the circuit stays open before the first probe, in milliseconds.
   * @defaultValue 5000
   */
  cooldownMs?: number;
  /**
   * Upper bound of the cooldown, which doubles each time a probe fails, in milliseconds.
   * @defaultValue 300000
   */
  maxCooldownMs?: number;
  /**
   * Current time in epoch milliseconds; {@link CircuitBreaker.nextProbeAt} is in the same units.
   * @defaultValue Date.now
   */
  clock?: () => number;
}

/** Defaults of {@link CircuitBreakerOptions}. */
export const DEFAULT_CIRCUIT_BREAKER_OPTIONS: Readonly<Required<Omit<CircuitBreakerOptions, 'clock'>>> =
  Object.freeze({ failureThreshold: 5, cooldownMs: 5_000, maxCooldownMs: 300_000 });

/** Observable state of a {@link CircuitBreaker}. */
export type CircuitState = 'closed' | 'open' | 'half-open';

type Internal =
  | { kind: 'closed'; failures: number }
  | { kind: 'open'; until: number }
  | { kind: 'half-open'; probeInFlight: boolean; since: number };

/** Per-destination circuit breaker; see the state diagram in the module header. */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #baseCooldownMs: number;
  readonly #maxCooldownMs: number;
  readonly #clock: () => number;
  #state: Internal = { kind: 'closed', failures: 0 };
  #cooldownMs: number;

  /**
   * @throws CoreError `DSP_CORE_INVALID_ARGUMENT` for a threshold that is not an integer ≥ 1, or cooldowns
   *   that are negative or inverted
   */
  constructor(options: CircuitBreakerOptions = {}) {
    const { failureThreshold, cooldownMs, maxCooldownMs } = {
      ...DEFAULT_CIRCUIT_BREAKER_OPTIONS,
      ...definedOnly(options),
    };
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1) {
      throw invalid(`failureThreshold must be an integer >= 1; got ${failureThreshold}`);
    }
    if (!Number.isFinite(cooldownMs) || cooldownMs < 0) {
      throw invalid(`cooldownMs must be a finite number >= 0; got ${cooldownMs}`);
    }
    if (!Number.isFinite(maxCooldownMs) || maxCooldownMs < cooldownMs) {
      throw invalid(`maxCooldownMs must be finite and >= cooldownMs; got ${maxCooldownMs}`);
    }
    this.#threshold = failureThreshold;
    this.#baseCooldownMs = cooldownMs;
    this.#maxCooldownMs = maxCooldownMs;
    this.#cooldownMs = cooldownMs;
    this.#clock = options.clock ?? Date.now;
  }

  /**
   * Current state. An open circuit whose cooldown has passed still reads `open` until
   * {@link canAttempt} moves it to `half-open`.
   */
  get state(): CircuitState {
    return this.#state.kind;
  }

  /** Consecutive failures counted while closed (0 otherwise). */
  get consecutiveFailures(): number {
    return this.#state.kind === 'closed' ? this.#state.failures : 0;
  }

  /** The cooldown the circuit uses (or will use) the next time it opens, in milliseconds. */
  get cooldownMs(): number {
    return this.#cooldownMs;
  }

  /**
   * Whether an attempt may be made now. When it returns true in `half-open` (or moving from `open` to
   * `half-open`) the caller holds the single probe slot and must report its outcome with
   * {@link onSuccess}/{@link onFailure}, or give the slot back with {@link cancelAttempt}.
   */
  canAttempt(): boolean {
    const state = this.#state;
    switch (state.kind) {
      case 'closed':
        return true;
      case 'open': {
        const now = this.#clock();
        if (now < state.until) return false;
        this.#state = { kind: 'half-open', probeInFlight: true, since: now };
        return true;
      }
      case 'half-open':
        if (state.probeInFlight) return false;
        this.#state = { ...state, probeInFlight: true };
        return true;
      default:
        return assertNever(state);
    }
  }

  /** Reports a successful attempt: closes the circuit after a probe, resets the failure count when closed. */
  onSuccess(): void {
    const state = this.#state;
    switch (state.kind) {
      case 'closed':
      case 'half-open':
        this.#state = { kind: 'closed', failures: 0 };
        this.#cooldownMs = this.#baseCooldownMs;
        return;
      case 'open':
        // A late success from an attempt started before the circuit opened; only a probe may close it.
        return;
      default:
        assertNever(state);
    }
  }

  /** Reports a failed attempt: counts it when closed, re-opens with a doubled cooldown after a probe. */
  onFailure(): void {
    const state = this.#state;
    switch (state.kind) {
      case 'closed': {
        const failures = state.failures + 1;
        if (failures >= this.#threshold) this.#open();
        else this.#state = { kind: 'closed', failures };
        return;
      }
      case 'half-open':
        this.#cooldownMs = Math.min(this.#cooldownMs * 2, this.#maxCooldownMs);
        this.#open();
        return;
      case 'open':
        // A late failure from an attempt started before the circuit opened; the cooldown already runs.
        return;
      default:
        assertNever(state);
    }
  }

  /**
   * Gives back a probe slot that {@link canAttempt} granted but that was not used (the attempt was never
   * made), so a later call can probe. No effect in other states.
   */
  cancelAttempt(): void {
    if (this.#state.kind === 'half-open') this.#state = { ...this.#state, probeInFlight: false };
  }

  /**
   * When a probe may next be made, in clock milliseconds: the end of the cooldown while open; the time the
   * circuit became half-open if its probe slot is free (that is, now); `undefined` while closed (no wait)
   * or while a probe is in flight (it waits on the outcome, not on time).
   */
  nextProbeAt(): number | undefined {
    const state = this.#state;
    switch (state.kind) {
      case 'closed':
        return undefined;
      case 'open':
        return state.until;
      case 'half-open':
        return state.probeInFlight ? undefined : state.since;
      default:
        return assertNever(state);
    }
  }

  #open(): void {
    this.#state = { kind: 'open', until: this.#clock() + this.#cooldownMs };
  }
}

// `{ ...defaults, ...options }` would let an explicit `undefined` override a default.
function definedOnly(options: CircuitBreakerOptions): Partial<CircuitBreakerOptions> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

function invalid(message: string): CoreError {
  return new CoreError('DSP_CORE_INVALID_ARGUMENT', message);
}

function assertNever(value: never): never {
  throw new Error(`Unexpected circuit state: ${JSON.stringify(value)}`);
}
