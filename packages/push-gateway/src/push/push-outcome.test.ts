import { describe, expect, it } from 'vitest';
import { judgeResponse } from './push-outcome.js';
import { selectUrl } from './push-request.js';

describe('judgeResponse', () => {
  it('applies the legacy rule: 200 and status printed as 1', () => {
    expect(judgeResponse({ status: 200, body: '{"status":1}' }, 'legacy-status').ok).toBe(true);
    expect(judgeResponse({ status: 200, body: '{"status":"1"}' }, 'legacy-status').ok).toBe(true);
    expect(judgeResponse({ status: 200, body: '{"status":1.0}' }, 'legacy-status').ok).toBe(true);
    expect(judgeResponse({ status: 200, body: '{"status":0}' }, 'legacy-status')).toMatchObject({
      ok: false,
      code: 'DSP_PUSH_HTTP_REJECTED',
    });
    expect(judgeResponse({ status: 200, body: 'ok' }, 'legacy-status')).toMatchObject({
      ok: false,
      code: 'DSP_PUSH_HTTP_REJECTED',
    });
    expect(judgeResponse({ status: 201, body: '{"status":1}' }, 'legacy-status')).toMatchObject({
      ok: false,
      code: 'DSP_PUSH_HTTP_STATUS',
    });
  });

  it('accepts any 2xx in any-2xx mode and parses Retry-After', () => {
    expect(judgeResponse({ status: 204, body: '' }, 'any-2xx').ok).toBe(true);
    expect(judgeResponse({ status: 429, body: '', retryAfter: '3' }, 'any-2xx')).toMatchObject({
      ok: false,
      status: 429,
      retryAfterMs: 3_000,
    });
  });
});

describe('selectUrl', () => {
  it('prefers [T_ENV:X] lines of this environment, else untagged ones', () => {
    const urls = ['[T_ENV:PUB]http://pub/', '[T_ENV:STAG]http://stag/', 'http://plain/'];
    expect(selectUrl(urls, 'PUB')).toBe('http://pub/');
    expect(selectUrl(urls, 'stag')).toBe('http://stag/');
    expect(selectUrl(urls, undefined)).toBe('http://plain/');
    expect(() => selectUrl(['[T_ENV:PUB]http://pub/'], 'DEV')).toThrow(
      expect.objectContaining({ code: 'DSP_PUSH_NO_URL' }),
    );
  });
});
