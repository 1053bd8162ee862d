import { describe, expect, it } from 'vitest';
import { thrownCode } from '../../test/helpers/thrown-code.js';
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  DEFAULT_CIRCUIT_BREAKER_OPTIONS,
} from './circuit-breaker.js';

function setup(options: Omit<CircuitBreakerOptions, 'clock'> = {}) {
  const time = { now: 1_000_000 };
  const breaker = new CircuitBreaker({ ...options, clock: () => time.now });
  return { breaker, time };
}

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) breaker.onFailure();
}

describe('CircuitBreaker', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_CIRCUIT_BREAKER_OPTIONS).toEqual({
      failureThreshold: 5,
      cooldownMs: 5_000,
      maxCooldownMs: 300_000,
    });
    const { breaker, time } = setup();
    fail(breaker, 4);
    expect(breaker.state).toBe('closed');
    breaker.onFailure();
    expect(breaker.state).toBe('open');
    expect(breaker.nextProbeAt()).toBe(time.now + 5_000);
  });

  it('treats explicitly undefined options as defaults', () => {
    const breaker = new CircuitBreaker({ failureThreshold: undefined, cooldownMs: undefined });
    expect(breaker.cooldownMs).toBe(5_000);
  });

  describe('closed', () => {
    it('allows attempts and has no probe time', () => {
      const { breaker } = setup();
      expect(breaker.state).toBe('closed');
      expect(breaker.canAttempt()).toBe(true);
      expect(breaker.canAttempt()).toBe(true);
      expect(breaker.nextProbeAt()).toBeUndefined();
    });

    it('counts consecutive failures and a success resets the count', () => {
      const { breaker } = setup({ failureThreshold: 3 });
      fail(breaker, 2);
      expect(breaker.consecutiveFailures).toBe(2);
      breaker.onSuccess();
      expect(breaker.consecutiveFailures).toBe(0);
      fail(breaker, 2);
      expect(breaker.state).toBe('closed');
      breaker.onFailure();
      expect(breaker.state).toBe('open');
      expect(breaker.consecutiveFailures).toBe(0);
    });

    it('opens on the first failure with a threshold of 1', () => {
      const { breaker } = setup({ failureThreshold: 1 });
      breaker.onFailure();
      expect(breaker.state).toBe('open');
    });
  });

  describe('open', () => {
    it('refuses attempts until the cooldown has elapsed, then allows exactly one probe', () => {
      const { breaker, time } = setup({ failureThreshold: 2, cooldownMs: 1_000 });
      fail(breaker, 2);
      const openedAt = time.now;
      expect(breaker.nextProbeAt()).toBe(openedAt + 1_000);
      expect(breaker.canAttempt()).toBe(false);
      time.now = openedAt + 999;
      expect(breaker.canAttempt()).toBe(false);
      expect(breaker.state).toBe('open');
      time.now = openedAt + 1_000;
      // Reading the state does not move it; canAttempt does.
      expect(breaker.state).toBe('open');
      expect(breaker.canAttempt()).toBe(true);
      expect(breaker.state).toBe('half-open');
      expect(breaker.canAttempt()).toBe(false);
      time.now += 60_000;
      expect(breaker.canAttempt()).toBe(false);
    });

    it('ignores late outcomes of attempts started before it opened', () => {
      const { breaker, time } = setup({ failureThreshold: 1, cooldownMs: 1_000 });
      breaker.onFailure();
      const until = breaker.nextProbeAt();
      time.now += 500;
      breaker.onFailure();
      expect(breaker.nextProbeAt()).toBe(until);
      breaker.onSuccess();
      expect(breaker.state).toBe('open');
      expect(breaker.nextProbeAt()).toBe(until);
      expect(breaker.canAttempt()).toBe(false);
    });

    it('with a zero cooldown allows a probe at once', () => {
      const { breaker } = setup({ failureThreshold: 1, cooldownMs: 0 });
      breaker.onFailure();
      expect(breaker.state).toBe('open');
      expect(breaker.canAttempt()).toBe(true);
      expect(breaker.state).toBe('half-open');
    });
  });

  describe('half-open', () => {
    function halfOpen(options: Omit<CircuitBreakerOptions, 'clock'> = {}) {
      const context = setup({ failureThreshold: 1, cooldownMs: 1_000, maxCooldownMs: 5_000, ...options });
      fail(context.breaker, options.failureThreshold ?? 1);
      context.time.now += context.breaker.cooldownMs;
      expect(context.breaker.canAttempt()).toBe(true);
      expect(context.breaker.state).toBe('half-open');
      return context;
    }

    it('has no probe time while the probe is in flight', () => {
      const { breaker } = halfOpen();
      expect(breaker.nextProbeAt()).toBeUndefined();
    });

    it('closes on probe success and resets the cooldown', () => {
      const { breaker, time } = halfOpen();
      breaker.onFailure(); // probe fails: cooldown 2000
      expect(breaker.cooldownMs).toBe(2_000);
      time.now += 2_000;
      expect(breaker.canAttempt()).toBe(true);
      breaker.onSuccess();
      expect(breaker.state).toBe('closed');
      expect(breaker.canAttempt()).toBe(true);
      expect(breaker.cooldownMs).toBe(1_000);
      expect(breaker.consecutiveFailures).toBe(0);
      breaker.onFailure();
      expect(breaker.nextProbeAt()).toBe(time.now + 1_000);
    });

    it('re-opens on probe failure with the cooldown doubled, capped at maxCooldownMs', () => {
      const { breaker, time } = halfOpen();
      const seen: number[] = [];
      for (let i = 0; i < 5; i++) {
        breaker.onFailure();
        expect(breaker.state).toBe('open');
        const wait = breaker.nextProbeAt()! - time.now;
        seen.push(wait);
        time.now += wait - 1;
        expect(breaker.canAttempt()).toBe(false);
        time.now += 1;
        expect(breaker.canAttempt()).toBe(true);
      }
      expect(seen).toEqual([2_000, 4_000, 5_000, 5_000, 5_000]);
    });

    it('a failed probe opens at once, without needing the threshold again', () => {
      const { breaker } = halfOpen({ failureThreshold: 3 });
      breaker.onFailure();
      expect(breaker.state).toBe('open');
    });

    it('cancelAttempt gives the probe slot back', () => {
      const { breaker, time } = halfOpen();
      const since = time.now;
      breaker.cancelAttempt();
      expect(breaker.state).toBe('half-open');
      expect(breaker.nextProbeAt()).toBe(since);
      time.now += 10;
      expect(breaker.canAttempt()).toBe(true);
      expect(breaker.canAttempt()).toBe(false);
    });

    it('cancelAttempt does nothing in other states', () => {
      const { breaker } = setup({ failureThreshold: 1 });
      breaker.cancelAttempt();
      expect(breaker.state).toBe('closed');
      breaker.onFailure();
      const until = breaker.nextProbeAt();
      breaker.cancelAttempt();
      expect(breaker.state).toBe('open');
      expect(breaker.nextProbeAt()).toBe(until);
      expect(breaker.canAttempt()).toBe(false);
    });
  });

  it('rejects invalid options', () => {
    expect(thrownCode(() => new CircuitBreaker({ failureThreshold: 0 }))).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(thrownCode(() => new CircuitBreaker({ failureThreshold: 1.5 }))).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(thrownCode(() => new CircuitBreaker({ cooldownMs: -1 }))).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(thrownCode(() => new CircuitBreaker({ cooldownMs: Number.POSITIVE_INFINITY }))).toBe(
      'DSP_CORE_INVALID_ARGUMENT',
    );
    expect(thrownCode(() => new CircuitBreaker({ cooldownMs: 10_000, maxCooldownMs: 5_000 }))).toBe(
      'DSP_CORE_INVALID_ARGUMENT',
    );
    expect(thrownCode(() => new CircuitBreaker({ maxCooldownMs: Number.NaN }))).toBe(
      'DSP_CORE_INVALID_ARGUMENT',
    );
  });

  it('uses Date.now by default', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1_000 });
    const before = Date.now();
    breaker.onFailure();
    const at = breaker.nextProbeAt()!;
    expect(at).toBeGreaterThanOrEqual(before + 1_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 1_000);
  });
});
