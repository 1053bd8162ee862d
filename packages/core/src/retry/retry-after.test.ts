import { thrown } from '@dispatcher/tooling';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseHttpDate } from './http-date.js';
import { DEFAULT_RETRY_AFTER_OPTIONS, parseRetryAfter, parseRetryAfterOrThrow } from './retry-after.js';

// Wednesday, 15 January 2025, 12:00:00 UTC.
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const LONG = { now: NOW, maxMs: Number.MAX_SAFE_INTEGER };

describe('parseRetryAfter', () => {
  describe('delta-seconds', () => {
    it('converts seconds to milliseconds', () => {
      expect(parseRetryAfter('120', { now: NOW })).toBe(120_000);
      expect(parseRetryAfter('007', { now: NOW })).toBe(7_000);
    });

    it('returns 0 for "0", distinct from invalid', () => {
      expect(parseRetryAfter('0', { now: NOW })).toBe(0);
    });

    it('trims optional whitespace (SP and HTAB) only', () => {
      expect(parseRetryAfter(' \t120 ', { now: NOW })).toBe(120_000);
      expect(parseRetryAfter('\n120', { now: NOW })).toBeUndefined();
    });

    it('clamps to maxMs, 24 hours by default', () => {
      expect(DEFAULT_RETRY_AFTER_OPTIONS.maxMs).toBe(86_400_000);
      expect(parseRetryAfter('86401', { now: NOW })).toBe(86_400_000);
      expect(parseRetryAfter('99999999999999999999999', { now: NOW })).toBe(86_400_000);
      expect(parseRetryAfter('9'.repeat(400), { now: NOW })).toBe(86_400_000);
      expect(parseRetryAfter('10', { now: NOW, maxMs: 5_000 })).toBe(5_000);
      expect(parseRetryAfter('10', { now: NOW, maxMs: 0 })).toBe(0);
    });

    it('maps any non-negative integer to min(n × 1000, maxMs)', () => {
      fc.assert(
        fc.property(fc.nat({ max: 10_000_000 }), fc.nat({ max: 100_000_000 }), (n, maxMs) => {
          expect(parseRetryAfter(String(n), { now: NOW, maxMs })).toBe(Math.min(n * 1000, maxMs));
        }),
      );
    });

    it('uses the real clock when now is omitted (irrelevant for delta-seconds)', () => {
      expect(parseRetryAfter('3')).toBe(3_000);
    });
  });

  describe('HTTP-date', () => {
    it('parses IMF-fixdate', () => {
      expect(parseRetryAfter('Wed, 15 Jan 2025 12:00:30 GMT', { now: NOW })).toBe(30_000);
    });

    it('parses the obsolete RFC 850 form', () => {
      expect(parseRetryAfter('Wednesday, 15-Jan-25 12:01:00 GMT', { now: NOW })).toBe(60_000);
    });

    it('parses the obsolete asctime form, including a space-padded day', () => {
      expect(parseRetryAfter('Wed Jan 15 12:00:05 2025', { now: NOW })).toBe(5_000);
      const jan6 = Date.UTC(2025, 0, 6, 8, 49, 0);
      expect(parseRetryAfter('Mon Jan  6 08:49:37 2025', { now: jan6 })).toBe(37_000);
    });

    it('matches names case-insensitively', () => {
      expect(parseRetryAfter('wed, 15 JAN 2025 12:00:30 gmt', { now: NOW })).toBe(30_000);
    });

    it('returns 0 for a date in the past', () => {
      expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', { now: NOW })).toBe(0);
      expect(parseRetryAfter('Wed, 15 Jan 2025 12:00:00 GMT', { now: NOW })).toBe(0);
    });

    it('clamps a far-future date to maxMs', () => {
      expect(parseRetryAfter('Fri, 31 Dec 9999 23:59:59 GMT', { now: NOW })).toBe(86_400_000);
      expect(parseRetryAfter('Thu, 16 Jan 2025 12:00:00 GMT', { now: NOW, maxMs: 60_000 })).toBe(60_000);
    });

    it('measures from the real clock when now is omitted', () => {
      const inAMinute = new Date(Date.now() + 60_000).toUTCString();
      const waitMs = parseRetryAfter(inAMinute);
      expect(waitMs).toBeGreaterThanOrEqual(55_000);
      expect(waitMs).toBeLessThanOrEqual(60_000);
    });

    it('round-trips any IMF-fixdate produced by Date#toUTCString', () => {
      fc.assert(
        fc.property(fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31) }), (ms) => {
          const whole = ms - (ms % 1000);
          expect(parseHttpDate(new Date(whole).toUTCString(), NOW)).toBe(whole);
        }),
      );
    });
  });

  describe('invalid values', () => {
    const invalid = [
      '',
      '   ',
      '-1',
      '1.5',
      '+5',
      '1e3',
      '0x10',
      '5s',
      '1 2',
      '120, 30',
      'soon',
      '2025-01-15T12:00:30Z',
      'Wed, 15 Jan 2025 12:00:30 UTC',
      'Wed, 15 Jan 2025 12:00:30',
      'Wed,15 Jan 2025 12:00:30 GMT',
      'Wednesday, 15 Jan 2025 12:00:30 GMT',
      'Wed, 5 Jan 2025 12:00:30 GMT',
      'Wed, 15 Jan 25 12:00:30 GMT',
      'Foo, 15 Jan 2025 12:00:30 GMT',
      'Wed, 15 Foo 2025 12:00:30 GMT',
      'Wed, 15 Jan 2025 24:00:00 GMT',
      'Wed, 15 Jan 2025 12:60:00 GMT',
      'Wed, 15 Jan 2025 12:00:61 GMT',
      'Wed, 00 Jan 2025 12:00:00 GMT',
      'Sat, 29 Feb 2025 12:00:00 GMT',
      'Mon, 29 Feb 2100 12:00:00 GMT',
      'Thu, 31 Apr 2025 12:00:00 GMT',
      'Wed, 32 Jan 2025 12:00:00 GMT',
      'Wed, 15-Jan-25 12:00:30 GMT',
      'Wednesday, 15-Jan-2025 12:00:30 GMT',
      'Wed Jan 15 12:00:05 2025 GMT',
      'Wed Jan 6 12:00:05 2025',
    ];

    it.each(invalid)('returns undefined for %j', (value) => {
      expect(parseRetryAfter(value, { now: NOW })).toBeUndefined();
    });

    it('returns undefined for an absent header', () => {
      expect(parseRetryAfter(null, { now: NOW })).toBeUndefined();
      expect(parseRetryAfter(undefined, { now: NOW })).toBeUndefined();
    });
  });

  it.each([
    ['now', { now: Number.NaN }],
    ['now', { now: Number.POSITIVE_INFINITY }],
    ['now', { now: '0' }],
    ['maxMs', { maxMs: -1 }],
    ['maxMs', { maxMs: 1.5 }],
    ['maxMs', { maxMs: Number.POSITIVE_INFINITY }],
  ])('throws DSP_CORE_INVALID_ARGUMENT for a bad %s option', (option, options) => {
    const error = thrown(() => parseRetryAfter('1', options as { now?: number; maxMs?: number }));
    expect(error.code).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(error.message).toContain(option);
  });
});

describe('parseHttpDate', () => {
  it('accepts valid leap days and rejects invalid ones', () => {
    expect(parseHttpDate('Tue, 29 Feb 2028 00:00:00 GMT', NOW)).toBe(Date.UTC(2028, 1, 29));
    expect(parseHttpDate('Tue, 29 Feb 2000 00:00:00 GMT', NOW)).toBe(Date.UTC(2000, 1, 29));
    expect(parseHttpDate('Fri, 28 Feb 2025 00:00:00 GMT', NOW)).toBe(Date.UTC(2025, 1, 28));
    expect(parseHttpDate('Sat, 29 Feb 2025 00:00:00 GMT', NOW)).toBeUndefined();
  });

  it('accepts every 30- and 31-day month end', () => {
    expect(parseHttpDate('Wed, 30 Apr 2025 00:00:00 GMT', NOW)).toBe(Date.UTC(2025, 3, 30));
    expect(parseHttpDate('Thu, 31 Jul 2025 00:00:00 GMT', NOW)).toBe(Date.UTC(2025, 6, 31));
    expect(parseHttpDate('Sun, 31 Dec 2025 00:00:00 GMT', NOW)).toBe(Date.UTC(2025, 11, 31));
    expect(parseHttpDate('Fri, 31 Jun 2025 00:00:00 GMT', NOW)).toBeUndefined();
    expect(parseHttpDate('Fri, 31 Sep 2025 00:00:00 GMT', NOW)).toBeUndefined();
    expect(parseHttpDate('Fri, 31 Nov 2025 00:00:00 GMT', NOW)).toBeUndefined();
  });

  it('rolls a leap second into the next minute', () => {
    expect(parseHttpDate('Wed, 31 Dec 2025 23:59:60 GMT', NOW)).toBe(Date.UTC(2026, 0, 1));
  });

  it('keeps four-digit years below 100 literal', () => {
    expect(parseHttpDate('Sat, 01 Jan 0050 00:00:00 GMT', NOW)).toBe(
      new Date('0050-01-01T00:00:00Z').getTime(),
    );
  });

  it('resolves RFC 850 two-digit years to within 50 years of now', () => {
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Monday, 01-Jan-75 00:00:00 GMT', NOW)).toBe(Date.UTC(2075, 0, 1));
    expect(parseHttpDate('Thursday, 01-Jan-76 00:00:00 GMT', NOW)).toBe(Date.UTC(1976, 0, 1));
    const late = Date.UTC(2099, 5, 1);
    expect(parseHttpDate('Saturday, 01-Jan-01 00:00:00 GMT', late)).toBe(Date.UTC(2101, 0, 1));
    // The window is (2049, 2149]: 49 lands a century later, 50 stays in the past.
    expect(parseHttpDate('Saturday, 01-Jan-49 00:00:00 GMT', late)).toBe(Date.UTC(2149, 0, 1));
    expect(parseHttpDate('Saturday, 01-Jan-50 00:00:00 GMT', late)).toBe(Date.UTC(2050, 0, 1));
  });
});

describe('parseRetryAfterOrThrow', () => {
  it('returns the wait for valid values, including 0', () => {
    expect(parseRetryAfterOrThrow('5', { now: NOW })).toBe(5_000);
    expect(parseRetryAfterOrThrow('0', { now: NOW })).toBe(0);
    expect(parseRetryAfterOrThrow('Wed, 15 Jan 2025 12:00:30 GMT', LONG)).toBe(30_000);
  });

  it.each(['', '-1', '1.5', 'garbage'])('throws DSP_CORE_RETRY_AFTER_INVALID for %j', (value) => {
    const error = thrown(() => parseRetryAfterOrThrow(value, { now: NOW }));
    expect(error.code).toBe('DSP_CORE_RETRY_AFTER_INVALID');
    expect(error.details).toEqual({ value });
    expect(error.message).toContain(JSON.stringify(value));
  });

  it('truncates a long value in the message but keeps it whole in details', () => {
    const value = 'x'.repeat(200);
    const error = thrown(() => parseRetryAfterOrThrow(value, { now: NOW }));
    expect(error.message).toContain(`${'x'.repeat(64)}…`);
    expect(error.message).not.toContain('x'.repeat(65));
    expect(error.details).toEqual({ value });
  });

  it('throws for a non-string from an untyped caller', () => {
    const error = thrown(() => parseRetryAfterOrThrow(null as unknown as string, { now: NOW }));
    expect(error.code).toBe('DSP_CORE_RETRY_AFTER_INVALID');
  });
});
