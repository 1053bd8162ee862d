import { describe, expect, it } from 'vitest';
import { type DestinationLimits, type DueCandidate, planClaim } from './claim-plan.js';

const limits = (l: Partial<DestinationLimits> = {}): DestinationLimits => ({
  concurrency: 2,
  burst: 1,
  failureThreshold: 3,
  cooldownMs: 1_000,
  maxCooldownMs: 10_000,
  ...l,
});
const due = (origin: string, n: number, extra: Partial<DueCandidate> = {}): DueCandidate[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `${origin}-${i}`,
    origin,
    inflight: 0,
    dest: undefined,
    ...extra,
  }));

describe('planClaim', () => {
  it('takes due requests oldest first up to max, within each destination’s concurrency left', () => {
    const plan = planClaim([...due('a', 3, { inflight: 1 }), ...due('b', 3)], 4, () => limits());
    expect(plan.picked).toEqual(['a-0', 'b-0', 'b-1']);
    expect(plan.touched).toEqual([]);
    expect(planClaim(due('b', 3), 1, () => limits()).picked).toEqual(['b-0']);
  });

  it('spends tokens of a rate-limited destination and writes its bucket back', () => {
    const rated = limits({ ratePerSec: 10, burst: 5, concurrency: 10 });
    const dest = { tokens: 1.5, elapsedMs: 100, failures: 0, openMs: null };
    const plan = planClaim(due('a', 5, { dest }), 10, () => rated);
    // 1.5 + 0.1 s × 10/s = 2.5 tokens: two attempts.
    expect(plan.picked).toEqual(['a-0', 'a-1']);
    expect(plan.touched).toEqual([{ origin: 'a', tokens: 0.5, probe: false, cooldownMs: 1_000 }]);
  });

  it('takes nothing of an open breaker, then one probe after its cooldown, and none while one runs', () => {
    const open = { tokens: 0, elapsedMs: 0, failures: 3, openMs: 500 };
    expect(planClaim(due('a', 2, { dest: open }), 5, () => limits()).picked).toEqual([]);
    const cooled = { ...open, openMs: -1 };
    const plan = planClaim(due('a', 2, { dest: cooled }), 5, () => limits());
    expect(plan.picked).toEqual(['a-0']);
    expect([...plan.probes]).toEqual(['a']);
    expect(plan.touched).toEqual([{ origin: 'a', tokens: 0, probe: true, cooldownMs: 1_000 }]);
    expect(planClaim(due('a', 2, { dest: cooled, inflight: 1 }), 5, () => limits()).picked).toEqual([]);
  });
});
