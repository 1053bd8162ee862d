import { describe, expect, it } from 'vitest';
import { thrownCode } from '../../test/helpers/thrown-code.js';
import { TokenBucket } from './token-bucket.js';

function setup(ratePerSec: number, burst?: number) {
  const time = { now: 5_000 };
  const bucket = new TokenBucket({
    ratePerSec,
    ...(burst === undefined ? {} : { burst }),
    clock: () => time.now,
  });
  return { bucket, time };
}

function drain(bucket: TokenBucket): number {
  let taken = 0;
  while (bucket.tryTake()) {
    taken++;
    if (taken > 10_000) throw new Error('bucket never empties');
  }
  return taken;
}

describe('TokenBucket', () => {
  it('starts full: allows a burst, then refuses', () => {
    const { bucket } = setup(10, 3);
    expect(drain(bucket)).toBe(3);
    expect(bucket.tryTake()).toBe(false);
  });

  it('burst defaults to 1', () => {
    const { bucket } = setup(10);
    expect(drain(bucket)).toBe(1);
  });

  it('refills continuously at ratePerSec', () => {
    const { bucket, time } = setup(10, 5);
    drain(bucket);
    expect(bucket.msUntilNext()).toBe(100);
    time.now += 50;
    expect(bucket.available()).toBeCloseTo(0.5);
    expect(bucket.tryTake()).toBe(false);
    expect(bucket.msUntilNext()).toBe(50);
    time.now += 50;
    expect(bucket.msUntilNext()).toBe(0);
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
    time.now += 250;
    expect(drain(bucket)).toBe(2);
  });

  it('never holds more than burst', () => {
    const { bucket, time } = setup(100, 4);
    drain(bucket);
    time.now += 3_600_000;
    expect(bucket.available()).toBe(4);
    expect(drain(bucket)).toBe(4);
  });

  it('keeps the sustained rate over a long run', () => {
    const { bucket, time } = setup(7, 1);
    let taken = 0;
    for (let ms = 0; ms < 10_000; ms++) {
      if (bucket.tryTake()) taken++;
      time.now += 1;
    }
    // One initial token plus 7/s for 10 s.
    expect(taken).toBeGreaterThanOrEqual(70);
    expect(taken).toBeLessThanOrEqual(71);
  });

  it('a wait of exactly msUntilNext() is always enough (no float spin)', () => {
    for (const rate of [0.1, 0.3, 1, 3, 7, 9.99, 33.3, 1000, 1234.5, 1e6]) {
      const { bucket, time } = setup(rate, 1);
      for (let i = 0; i < 50; i++) {
        drain(bucket);
        const wait = bucket.msUntilNext();
        expect(wait, `rate ${rate}`).toBeGreaterThanOrEqual(0);
        expect(Number.isInteger(wait)).toBe(true);
        time.now += wait;
        expect(bucket.tryTake(), `rate ${rate} round ${i}`).toBe(true);
        time.now += 0.37; // off the integer grid, to shake the arithmetic
      }
    }
  });

  it('msUntilNext is 0 while a token is available and does not take it', () => {
    const { bucket } = setup(1, 2);
    expect(bucket.msUntilNext()).toBe(0);
    expect(bucket.msUntilNext()).toBe(0);
    expect(drain(bucket)).toBe(2);
    expect(bucket.msUntilNext()).toBe(1_000);
  });

  it('a slow rate waits long', () => {
    const { bucket, time } = setup(0.5, 1);
    drain(bucket);
    expect(bucket.msUntilNext()).toBe(2_000);
    time.now += 1_999;
    expect(bucket.tryTake()).toBe(false);
    time.now += 1;
    expect(bucket.tryTake()).toBe(true);
  });

  it('a clock that steps back mints no tokens', () => {
    const { bucket, time } = setup(10, 1);
    drain(bucket);
    time.now -= 10_000;
    expect(bucket.tryTake()).toBe(false);
    time.now += 100;
    expect(bucket.tryTake()).toBe(true);
  });

  it.each([0, -1, Number.POSITIVE_INFINITY])('rate %s is unlimited', (rate) => {
    const { bucket } = setup(rate);
    expect(bucket.unlimited).toBe(true);
    for (let i = 0; i < 1_000; i++) expect(bucket.tryTake()).toBe(true);
    expect(bucket.msUntilNext()).toBe(0);
    expect(bucket.available()).toBe(Number.POSITIVE_INFINITY);
  });

  it('an unlimited bucket ignores burst', () => {
    expect(new TokenBucket({ ratePerSec: 0, burst: 0 }).tryTake()).toBe(true);
  });

  it('rejects a NaN rate and a burst below 1 when limited', () => {
    expect(thrownCode(() => new TokenBucket({ ratePerSec: Number.NaN }))).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(thrownCode(() => new TokenBucket({ ratePerSec: 1, burst: 0.5 }))).toBe(
      'DSP_CORE_INVALID_ARGUMENT',
    );
    expect(thrownCode(() => new TokenBucket({ ratePerSec: 1, burst: Number.POSITIVE_INFINITY }))).toBe(
      'DSP_CORE_INVALID_ARGUMENT',
    );
    expect(new TokenBucket({ ratePerSec: 1 }).unlimited).toBe(false);
  });

  it('allows a fractional burst above 1 to be used once fully', () => {
    const { bucket } = setup(1, 1.5);
    expect(drain(bucket)).toBe(1);
    expect(bucket.msUntilNext()).toBe(500);
  });

  it('uses a real monotonic clock by default', async () => {
    const bucket = new TokenBucket({ ratePerSec: 100, burst: 1 });
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(bucket.tryTake()).toBe(true);
  });
});
