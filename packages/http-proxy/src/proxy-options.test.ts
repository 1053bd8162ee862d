import { DispatcherError } from '@dispatcher/core';
import { describe, expect, it } from 'vitest';
import {
  HTTP_PROXY_DEFAULTS,
  HTTP_PROXY_LIMITS,
  type HttpProxyOptions,
  resolveProxyOptions,
} from './proxy-options.js';

const resolve = (o: Partial<HttpProxyOptions>) => resolveProxyOptions({ dataDir: 'data', ...o });

/** The error `resolveProxyOptions` throws for `o`, or undefined. */
function problem(o: Partial<HttpProxyOptions>): { message: string; option: unknown } | undefined {
  try {
    resolve(o);
    return undefined;
  } catch (err) {
    expect(DispatcherError.hasCode(err, 'DSP_PROXY_INVALID_ARGUMENT')).toBe(true);
    const e = err as Error & { details?: { option?: unknown } };
    return { message: e.message, option: e.details?.option };
  }
}

describe('resolveProxyOptions', () => {
  it('says the real range of a whole-number option when a value is outside it or not whole', () => {
    expect(problem({ minFreeDiskBytes: 1e18 })).toEqual({
      message: 'minFreeDiskBytes: must be an integer from 0 to 9007199254740991, got 1000000000000000000',
      option: 'minFreeDiskBytes',
    });
    expect(problem({ port: 70_000 })?.message).toBe('port: must be an integer from 0 to 65535, got 70000');
    expect(problem({ workers: 1.5 })?.message).toBe(
      'workers: must be an integer from 1 to 9007199254740991, got 1.5',
    );
    expect(problem({ defaultTimeoutMs: 2 ** 31 })?.message).toMatch(
      /^defaultTimeoutMs: must be an integer from 1 to 2147483647 \(the longest timer Node\.js keeps/,
    );
    expect(problem({ cooldownMs: 400_000 })?.message).toMatch(
      /^cooldownMs: must be an integer from 1 to 300000 /,
    );
    expect(problem({ maxBodyBytes: 64 * 1024 * 1024 })?.message).toMatch(
      /^maxBodyBytes: must be an integer from 1 to 15728640 \(a request is one log record/,
    );
  });

  it('checks both ends of every range in HTTP_PROXY_LIMITS, and accepts the ends themselves', () => {
    for (const [option, { min, max }] of Object.entries(HTTP_PROXY_LIMITS)) {
      const range = `${option}: must be an integer from ${min} to ${max}`;
      for (const bad of [min - 1, max + 1, min + 0.5, Number.NaN]) {
        const p = problem({ [option]: bad });
        expect(p?.message, `${option}=${bad}`).toContain(range);
        expect(p?.option).toBe(option);
      }
      // The ends are accepted (options they must agree with move along).
      for (const ok of [min, max]) {
        const others =
          option === 'retryBaseMs'
            ? { retryMaxMs: Math.max(ok, 1) }
            : option === 'retryMaxMs'
              ? { retryBaseMs: Math.max(1, Math.min(ok, HTTP_PROXY_DEFAULTS.retryBaseMs)) }
              : option === 'headersTimeoutMs'
                ? { requestTimeoutMs: ok }
                : option === 'requestTimeoutMs'
                  ? { headersTimeoutMs: ok }
                  : {};
        expect(problem({ ...others, [option]: ok }), `${option}=${ok}`).toBeUndefined();
      }
    }
  });

  it('has slow-client timeouts by default, and keeps the header timeout within the request timeout', () => {
    const o = resolve({});
    expect(o.headersTimeoutMs).toBe(10_000);
    expect(o.requestTimeoutMs).toBe(60_000);
    expect(problem({ headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 })).toEqual({
      message: 'requestTimeoutMs: must be >= headersTimeoutMs',
      option: 'requestTimeoutMs',
    });
  });

  it('checks per-destination rules at construction against the ranges of the options they override', () => {
    const rule = { match: 'api.example' };
    expect(problem({ destinations: [rule, { ...rule, cooldownMs: 300_001 }] })).toEqual({
      message:
        'destinations[1].cooldownMs: must be an integer from 1 to 300000 (the longest pause of an open circuit), got 300001',
      option: 'destinations[1].cooldownMs',
    });
    expect(resolve({ destinations: [{ ...rule, cooldownMs: 300_000 }] }).delivery.destinations).toEqual([
      { ...rule, cooldownMs: 300_000 },
    ]);
    expect(problem({ destinations: [{ ...rule, cooldownMs: 0 }] })?.option).toBe(
      'destinations[0].cooldownMs',
    );
    expect(problem({ destinations: [{ ...rule, concurrency: 0 }] })?.option).toBe(
      'destinations[0].concurrency',
    );
    expect(problem({ destinations: [{ ...rule, timeoutMs: 2 ** 31 }] })?.option).toBe(
      'destinations[0].timeoutMs',
    );
    expect(problem({ destinations: [{ ...rule, failureThreshold: 0.5 }] })?.option).toBe(
      'destinations[0].failureThreshold',
    );
    expect(problem({ destinations: [{ ...rule, ratePerSec: 0 }] })?.option).toBe(
      'destinations[0].ratePerSec',
    );
    expect(problem({ destinations: [{ ...rule, burst: 0 }] })?.option).toBe('destinations[0].burst');
    expect(problem({ destinations: [{ ...rule, retryStatuses: [503, 700] }] })?.option).toBe(
      'destinations[0].retryStatuses',
    );
    expect(problem({ destinations: [{ match: '' }] })?.option).toBe('destinations[0].match');
  });

  it('checks the admin host names', () => {
    expect(
      resolve({ adminHosts: ['dispatcher.internal', 'ops.example:8443', '[fd00::1]'] }).adminHosts,
    ).toEqual(['dispatcher.internal', 'ops.example:8443', '[fd00::1]']);
    expect(resolve({}).adminHosts).toEqual([]);
    expect(problem({ adminHosts: ['ok.example', 'http://bad.example'] })).toEqual({
      message: 'adminHosts: expected name, name:port, [v6] or [v6]:port, got "http://bad.example"',
      option: 'adminHosts',
    });
  });
});
