import { describe, expect, it } from 'vitest';
import {
  buildTargetPath,
  buildTargetUrl,
  DEFAULT_DISPATCH_HEADER_LIMITS,
  type DispatchOptions,
  firstAttemptAt,
  hasDestinationHeader,
  type ParseResult,
  parseDispatchHeaders,
} from './dispatch-headers.js';

// Wednesday, 15 January 2025, 12:00:00 UTC.
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const LIMITS = DEFAULT_DISPATCH_HEADER_LIMITS;
const DEST = { 'x-dispatcher-origin-host': 'api.example.com' };

function parse(headers: Record<string, string | string[] | undefined>, limits = LIMITS): ParseResult {
  return parseDispatchHeaders(headers, limits, NOW);
}

function options(headers: Record<string, string | string[] | undefined>): DispatchOptions {
  const result = parse(headers);
  if (!result.ok) throw new Error(`expected ok, got ${result.error}: ${result.message}`);
  return result.options;
}

function failure(headers: Record<string, string | string[] | undefined>, limits = LIMITS) {
  const result = parse(headers, limits);
  if (result.ok) throw new Error('expected a failure');
  expect(result.status).toBe(400);
  return result;
}

describe('DEFAULT_DISPATCH_HEADER_LIMITS', () => {
  it('has the documented values and is frozen', () => {
    expect(LIMITS).toEqual({
      maxTimeoutMs: 600_000,
      maxRetryLimit: 100,
      maxDelayMs: 2_592_000_000,
      maxIdempotencyKeyLength: 256,
    });
    expect(Object.isFrozen(LIMITS)).toBe(true);
  });
});

describe('destination', () => {
  it('treats a value without scheme as http://', () => {
    expect(options({ 'x-dispatcher-origin-host': 'api.example.com:8080' }).destination.href).toBe(
      'http://api.example.com:8080/',
    );
    expect(options({ 'x-dispatcher-origin-host': 'localhost:3000' }).destination.href).toBe(
      'http://localhost:3000/',
    );
    expect(options({ 'x-dispatcher-origin-host': '10.0.0.1' }).destination.href).toBe('http://10.0.0.1/');
    expect(options({ 'x-dispatcher-origin-host': '[::1]:81' }).destination.href).toBe('http://[::1]:81/');
  });

  it('keeps an explicit scheme and a base path', () => {
    const url = options({ 'x-dispatcher-origin-host': 'HTTPS://API.example.com/base/v1' }).destination;
    expect(url.protocol).toBe('https:');
    expect(url.host).toBe('api.example.com');
    expect(url.pathname).toBe('/base/v1');
  });

  it("accepts the original implementation's header name, in any case", () => {
    expect(options({ 'X-Dispatcher-Original-Host': 'b.example.com' }).destination.hostname).toBe(
      'b.example.com',
    );
  });

  it('accepts both names when they agree (after normalization)', () => {
    const url = options({
      'x-dispatcher-origin-host': 'api.example.com',
      'x-dispatcher-original-host': 'http://API.example.com:80',
    }).destination;
    expect(url.href).toBe('http://api.example.com/');
  });

  it('refuses both names when they differ', () => {
    const result = failure({
      'x-dispatcher-origin-host': 'a.example.com',
      'x-dispatcher-original-host': 'b.example.com',
    });
    expect(result.error).toBe('conflicting_destination');
    expect(result.message).toContain('X-Dispatcher-Origin-Host');
    expect(result.message).toContain('X-Dispatcher-Original-Host');
  });

  it('reports a missing destination', () => {
    const result = failure({ 'content-type': 'application/json', 'x-dispatcher-timeout': '5' });
    expect(result.error).toBe('missing_destination');
    expect(result.message).toContain('X-Dispatcher-Origin-Host');
    // An undefined value is absent, not present.
    expect(failure({ 'x-dispatcher-origin-host': undefined }).error).toBe('missing_destination');
  });

  it.each([
    ['', 'empty'],
    ['ftp://files.example.com', 'scheme'],
    ['file:///etc/passwd', 'scheme'],
    ['ws://example.com', 'scheme'],
    ['http://user:pw@example.com', 'credentials'],
    ['user@example.com', 'credentials'],
    ['https://example.com/?', 'query'],
    ['https://example.com/path?x=1', 'query'],
    ['https://example.com/#frag', 'fragment'],
    ['exa mple.com', 'not a valid URL'],
    ['example.com:99999', 'not a valid URL'],
    ['http://', 'not a valid URL'],
  ])('refuses %s', (value, hint) => {
    for (const name of ['x-dispatcher-origin-host', 'x-dispatcher-original-host']) {
      const result = failure({ [name]: value });
      expect(result.error).toBe('invalid_destination');
      expect(result.message).toContain(
        name === 'x-dispatcher-origin-host' ? 'X-Dispatcher-Origin-Host' : 'X-Dispatcher-Original-Host',
      );
      expect(result.message).toContain(hint);
    }
  });

  it('reports an invalid value even when the other name is valid', () => {
    const result = failure({
      'x-dispatcher-origin-host': 'a.example.com',
      'x-dispatcher-original-host': 'ftp://x',
    });
    expect(result.error).toBe('invalid_destination');
    expect(result.message).toContain('X-Dispatcher-Original-Host');
  });
});

describe('repeated headers', () => {
  it('refuses an array value for any control header', () => {
    for (const name of ['x-dispatcher-origin-host', 'x-dispatcher-timeout', 'x-dispatcher-callback']) {
      const result = failure({ ...DEST, [name]: ['1', '2'] });
      expect(result.error).toBe('repeated_header');
    }
    expect(failure({ 'x-dispatcher-origin-host': ['a.example.com'] }).message).toBe(
      'X-Dispatcher-Origin-Host must be sent once; it was repeated',
    );
  });

  it('refuses names that differ only in case', () => {
    expect(failure({ ...DEST, 'X-Dispatcher-Delay': '1', 'x-dispatcher-delay': '1' }).error).toBe(
      'repeated_header',
    );
  });

  it('ignores repeats of non-control headers', () => {
    expect(parse({ ...DEST, accept: ['a', 'b'] }).ok).toBe(true);
  });
});

describe('numeric headers', () => {
  it('parses valid values at the bounds', () => {
    expect(
      options({
        ...DEST,
        'x-dispatcher-timeout': '1',
        'x-dispatcher-retry-limit': '0',
        'x-dispatcher-delay': '0',
      }),
    ).toMatchObject({ timeoutMs: 1, retryLimit: 0, delayMs: 0 });
    expect(
      options({
        ...DEST,
        'x-dispatcher-timeout': '600000',
        'x-dispatcher-retry-limit': '100',
        'x-dispatcher-delay': '2592000000',
      }),
    ).toMatchObject({ timeoutMs: 600_000, retryLimit: 100, delayMs: 2_592_000_000 });
    expect(options({ ...DEST, 'x-dispatcher-timeout': '0250' }).timeoutMs).toBe(250);
  });

  it('leaves absent fields undefined', () => {
    const result = options(DEST);
    expect(Object.keys(result)).toEqual(['destination']);
  });

  it.each([
    ['x-dispatcher-timeout', 'invalid_timeout', 'X-Dispatcher-Timeout', ['0', '600001']],
    ['x-dispatcher-retry-limit', 'invalid_retry_limit', 'X-Dispatcher-Retry-Limit', ['101']],
    ['x-dispatcher-delay', 'invalid_delay', 'X-Dispatcher-Delay', ['2592000001']],
  ])('%s is strict', (name, error, display, outOfRange) => {
    for (const value of [
      '1e3',
      '12abc',
      '-1',
      ' 5 ',
      '5 ',
      '+5',
      '1.0',
      '0x10',
      '',
      'NaN',
      'Infinity',
      '１',
      '9'.repeat(20),
      ...outOfRange,
    ]) {
      const result = failure({ ...DEST, [name]: value });
      expect(result.error, value).toBe(error);
      expect(result.message).toContain(display);
      expect(result.message).toMatch(/from \d+ to \d+/);
      expect(result.message).toContain(JSON.stringify(value.slice(0, 100)).slice(0, -1));
    }
  });

  it('uses the limits it is given', () => {
    const limits = { ...LIMITS, maxTimeoutMs: 10, maxRetryLimit: 2, maxDelayMs: 5 };
    expect(failure({ ...DEST, 'x-dispatcher-timeout': '11' }, limits).message).toContain('from 1 to 10');
    expect(failure({ ...DEST, 'x-dispatcher-retry-limit': '3' }, limits).error).toBe('invalid_retry_limit');
    expect(failure({ ...DEST, 'x-dispatcher-delay': '6' }, limits).error).toBe('invalid_delay');
    expect(parseDispatchHeaders({ ...DEST, 'x-dispatcher-delay': '5' }, limits, NOW).ok).toBe(true);
  });
});

describe('X-Dispatcher-Not-Before', () => {
  it('parses an HTTP-date in the future', () => {
    expect(options({ ...DEST, 'x-dispatcher-not-before': 'Wed, 15 Jan 2025 13:00:00 GMT' }).notBefore).toBe(
      NOW + 3_600_000,
    );
  });

  it('accepts past dates as they are (due now)', () => {
    const past = options({ ...DEST, 'x-dispatcher-not-before': 'Sun, 06 Nov 1994 08:49:37 GMT' });
    expect(past.notBefore).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(firstAttemptAt(past, NOW)).toBe(NOW);
  });

  it('refuses dates further ahead than maxDelayMs', () => {
    const limits = { ...LIMITS, maxDelayMs: 3_600_000 };
    expect(
      parseDispatchHeaders(
        { ...DEST, 'x-dispatcher-not-before': 'Wed, 15 Jan 2025 13:00:00 GMT' },
        limits,
        NOW,
      ).ok,
    ).toBe(true);
    const result = failure({ ...DEST, 'x-dispatcher-not-before': 'Wed, 15 Jan 2025 13:00:01 GMT' }, limits);
    expect(result.error).toBe('invalid_not_before');
    expect(result.message).toContain('X-Dispatcher-Not-Before');
    expect(result.message).toContain('3600000 ms');
  });

  it('refuses text that is not an HTTP-date, naming the form', () => {
    for (const value of ['tomorrow', '2025-01-15T13:00:00Z', '1736946000', 'Wed, 32 Jan 2025 13:00:00 GMT']) {
      const result = failure({ ...DEST, 'x-dispatcher-not-before': value });
      expect(result.error).toBe('invalid_not_before');
      expect(result.message).toContain('HTTP-date');
    }
  });
});

describe('X-Dispatcher-Idempotency-Key', () => {
  it('accepts 1..max visible ASCII characters', () => {
    expect(options({ ...DEST, 'x-dispatcher-idempotency-key': 'order-42:v1/!~' }).idempotencyKey).toBe(
      'order-42:v1/!~',
    );
    expect(options({ ...DEST, 'x-dispatcher-idempotency-key': 'k'.repeat(256) }).idempotencyKey).toHaveLength(
      256,
    );
  });

  it.each(['', 'has space', 'tab\there', 'ünïcode', 'k'.repeat(257), 'nul\u0000'])('refuses %j', (value) => {
    const result = failure({ ...DEST, 'x-dispatcher-idempotency-key': value });
    expect(result.error).toBe('invalid_idempotency_key');
    expect(result.message).toContain('X-Dispatcher-Idempotency-Key');
    expect(result.message).toContain('1 to 256 visible ASCII');
  });
});

describe('callbacks', () => {
  it('parses absolute http(s) URLs, keeping path and query', () => {
    const result = options({
      ...DEST,
      'x-dispatcher-callback': 'https://hooks.example.com/ok?token=abc',
      'x-dispatcher-failure-callback': 'http://hooks.example.com:8080/fail',
    });
    expect(result.callbackUrl?.href).toBe('https://hooks.example.com/ok?token=abc');
    expect(result.failureCallbackUrl?.href).toBe('http://hooks.example.com:8080/fail');
  });

  it.each([
    ['x-dispatcher-callback', 'invalid_callback', 'X-Dispatcher-Callback'],
    ['x-dispatcher-failure-callback', 'invalid_failure_callback', 'X-Dispatcher-Failure-Callback'],
  ])('%s refuses relative, non-http and credentialed URLs', (name, error, display) => {
    for (const value of [
      '/relative',
      'hooks.example.com/x',
      'ftp://x/y',
      'http://u:p@x/',
      'localhost:8080',
      '',
    ]) {
      const result = failure({ ...DEST, [name]: value });
      expect(result.error, value).toBe(error);
      expect(result.message).toContain(display);
      expect(result.message).toContain('absolute http(s) URL');
    }
  });
});

describe('hasDestinationHeader', () => {
  it('is true for either name, in any case', () => {
    expect(hasDestinationHeader({ 'x-dispatcher-origin-host': 'a' })).toBe(true);
    expect(hasDestinationHeader({ 'X-Dispatcher-Original-Host': 'a' })).toBe(true);
    expect(hasDestinationHeader({ 'x-dispatcher-origin-host': '' })).toBe(true);
  });

  it('is false otherwise', () => {
    expect(hasDestinationHeader({})).toBe(false);
    expect(hasDestinationHeader({ host: 'a', 'x-dispatcher-timeout': '5' })).toBe(false);
    expect(hasDestinationHeader({ 'x-dispatcher-origin-host': undefined })).toBe(false);
  });
});

describe('firstAttemptAt', () => {
  it('is the later of now + delay and notBefore, never before now', () => {
    expect(firstAttemptAt({}, NOW)).toBe(NOW);
    expect(firstAttemptAt({ delayMs: 500 }, NOW)).toBe(NOW + 500);
    expect(firstAttemptAt({ notBefore: NOW + 1000 }, NOW)).toBe(NOW + 1000);
    expect(firstAttemptAt({ delayMs: 2000, notBefore: NOW + 1000 }, NOW)).toBe(NOW + 2000);
    expect(firstAttemptAt({ delayMs: 500, notBefore: NOW + 1000 }, NOW)).toBe(NOW + 1000);
    expect(firstAttemptAt({ notBefore: NOW - 1000 }, NOW)).toBe(NOW);
  });
});

describe('buildTargetPath / buildTargetUrl', () => {
  const root = new URL('http://api.example.com:8080');
  const based = new URL('https://api.example.com/base');
  const basedSlash = new URL('https://api.example.com/base/');

  it('joins base path and request path', () => {
    expect(buildTargetPath(root, '/a/b?x=1')).toBe('/a/b?x=1');
    expect(buildTargetPath(based, '/a/b?x=1')).toBe('/base/a/b?x=1');
    expect(buildTargetPath(basedSlash, '/a')).toBe('/base/a');
    expect(buildTargetPath(based, '/')).toBe('/base/');
    expect(buildTargetUrl(based, '/a/b?x=1').href).toBe('https://api.example.com/base/a/b?x=1');
    expect(buildTargetUrl(root, '/').href).toBe('http://api.example.com:8080/');
  });

  it('keeps the path and query byte for byte', () => {
    const raw = "/a/../b/%2e%2E/c%2Fd//e?q=%20a+b&q=1&x='y'&&z=%zz#";
    expect(buildTargetPath(based, raw)).toBe(`/base${raw}`);
    const query = "/p?b=2&a=1&a=1&sp=%20&plus=+&quote='&empty=&=";
    expect(buildTargetPath(root, query)).toBe(query);
    // The URL form is for display: WHATWG encodes "'" in special-scheme queries, as documented.
    expect(buildTargetUrl(root, query).search).toBe('?b=2&a=1&a=1&sp=%20&plus=+&quote=%27&empty=&=');
  });

  it('never lets a request path change the host', () => {
    expect(buildTargetUrl(root, '//evil.example/x').host).toBe('api.example.com:8080');
    expect(buildTargetUrl(root, '//evil.example/x').pathname).toBe('//evil.example/x');
    expect(buildTargetUrl(based, '/@evil.example/').host).toBe('api.example.com');
  });

  it('throws TypeError for a target that is not in origin-form', () => {
    expect(() => buildTargetPath(root, 'http://other/x')).toThrow(TypeError);
    expect(() => buildTargetUrl(root, '*')).toThrow(TypeError);
    expect(() => buildTargetPath(root, '')).toThrow(TypeError);
  });
});
