import { thrown } from '@dispatcher/tooling';
import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.js';
import { DEFAULT_HTTP_RETRY_CLASSIFIER, httpRetryClassifier } from './http-retry-classifier.js';
import type { RetryClassification } from './retry-classifier.js';

const classify = httpRetryClassifier();
const status = (code: number, retryAfterMs?: number) =>
  ({ kind: 'status', status: code, retryAfterMs }) as const;
const failure = (error: unknown) => ({ kind: 'error', error }) as const;
const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('httpRetryClassifier (defaults)', () => {
  const table: Array<[number, RetryClassification]> = [
    [200, 'success'],
    [201, 'success'],
    [204, 'success'],
    [299, 'success'],
    [100, 'dead-letter'],
    [301, 'dead-letter'],
    [304, 'dead-letter'],
    [400, 'dead-letter'],
    [401, 'dead-letter'],
    [403, 'dead-letter'],
    [404, 'dead-letter'],
    [409, 'dead-letter'],
    [410, 'dead-letter'],
    [422, 'dead-letter'],
    [408, 'retry'],
    [425, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
    [504, 'retry'],
    [599, 'retry'],
    [600, 'dead-letter'],
  ];

  it.each(table)('classifies status %i as %s', (code, expected) => {
    expect(classify(status(code))).toBe(expected);
  });

  it('ignores retryAfterMs when classifying', () => {
    expect(classify(status(400, 5_000))).toBe('dead-letter');
  });

  it.each([
    'ECONNRESET',
    'ECONNREFUSED',
    'ETIMEDOUT',
    'EPIPE',
    'ENOTFOUND',
    'EAI_AGAIN',
    'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
    'UND_ERR_SOCKET',
  ])('retries an error with code %s', (code) => {
    expect(classify(failure(withCode(code)))).toBe('retry');
  });

  it('finds the code in the cause chain (fetch wraps socket errors)', () => {
    const fetchError = new TypeError('fetch failed', { cause: withCode('ECONNREFUSED') });
    expect(classify(failure(fetchError))).toBe('retry');
    const deep = new Error('outer', { cause: new Error('middle', { cause: withCode('UND_ERR_SOCKET') }) });
    expect(classify(failure(deep))).toBe('retry');
  });

  it("finds the code in an AggregateError's errors (happy-eyeballs connects)", () => {
    const aggregate = new AggregateError([new Error('v6 failed'), withCode('ECONNREFUSED')], 'all failed');
    expect(classify(failure(aggregate))).toBe('retry');
  });

  it('retries aborts and timeouts by name', () => {
    expect(classify(failure(new DOMException('aborted', 'AbortError')))).toBe('retry');
    expect(classify(failure(new DOMException('timed out', 'TimeoutError')))).toBe('retry');
    expect(classify(failure(new TypeError('fetch failed', { cause: AbortSignal.abort().reason })))).toBe(
      'retry',
    );
  });

  it("retries Dispatcher's own abort error", () => {
    expect(classify(failure(new CoreError('DSP_CORE_ABORTED', 'aborted')))).toBe('retry');
  });

  it('dead-letters unknown errors and non-error values', () => {
    expect(classify(failure(new TypeError('fetch failed', { cause: new Error('bad port') })))).toBe(
      'dead-letter',
    );
    expect(classify(failure(withCode('ERR_TLS_CERT_ALTNAME_INVALID')))).toBe('dead-letter');
    expect(classify(failure('ECONNRESET'))).toBe('dead-letter');
    expect(classify(failure(undefined))).toBe('dead-letter');
    expect(classify(failure(null))).toBe('dead-letter');
  });

  it('survives cyclic cause chains', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    Object.defineProperty(a, 'cause', { value: b });
    expect(classify(failure(a))).toBe('dead-letter');
  });

  it('stops walking after a bounded number of errors', () => {
    let error: Error = withCode('ECONNRESET');
    for (let i = 0; i < 40; i++) error = new Error(`wrap ${i}`, { cause: error });
    expect(classify(failure(error))).toBe('dead-letter');
    let shallow: Error = withCode('ECONNRESET');
    for (let i = 0; i < 10; i++) shallow = new Error(`wrap ${i}`, { cause: shallow });
    expect(classify(failure(shallow))).toBe('retry');
  });

  it.each([0, 99, 1_000, 200.5, Number.NaN])('throws DSP_CORE_INVALID_ARGUMENT for status %s', (code) => {
    expect(thrown(() => classify(status(code))).code).toBe('DSP_CORE_INVALID_ARGUMENT');
  });

  it('exposes its defaults', () => {
    expect(DEFAULT_HTTP_RETRY_CLASSIFIER.retryStatuses).toHaveLength(103);
    expect(DEFAULT_HTTP_RETRY_CLASSIFIER.giveUpStatuses).toEqual([]);
    expect(DEFAULT_HTTP_RETRY_CLASSIFIER.unknownError).toBe('dead-letter');
  });
});

describe('httpRetryClassifier (configured)', () => {
  it('replaces the retry statuses', () => {
    const c = httpRetryClassifier({ retryStatuses: [503] });
    expect(c(status(503))).toBe('retry');
    expect(c(status(500))).toBe('dead-letter');
    expect(c(status(429))).toBe('dead-letter');
  });

  it('extends the defaults by spreading them', () => {
    const c = httpRetryClassifier({ retryStatuses: [...DEFAULT_HTTP_RETRY_CLASSIFIER.retryStatuses, 409] });
    expect(c(status(409))).toBe('retry');
    expect(c(status(502))).toBe('retry');
  });

  it('gives up on giveUpStatuses, ahead of retryStatuses', () => {
    const c = httpRetryClassifier({ giveUpStatuses: new Set([410, 503]) });
    expect(c(status(410))).toBe('give-up');
    expect(c(status(503))).toBe('give-up');
    expect(c(status(502))).toBe('retry');
  });

  it('lets the sets reclassify a 2xx', () => {
    expect(httpRetryClassifier({ retryStatuses: [202] })(status(202))).toBe('retry');
  });

  it('replaces the error codes and names', () => {
    const c = httpRetryClassifier({ retryErrorCodes: ['ESERVFAIL'], retryErrorNames: ['FlakyError'] });
    expect(c(failure(withCode('ESERVFAIL')))).toBe('retry');
    expect(c(failure(withCode('ECONNRESET')))).toBe('dead-letter');
    expect(c(failure(Object.assign(new Error('x'), { name: 'FlakyError' })))).toBe('retry');
    expect(c(failure(new DOMException('aborted', 'AbortError')))).toBe('dead-letter');
  });

  it('classifies unknown errors as configured', () => {
    expect(httpRetryClassifier({ unknownError: 'retry' })(failure(new Error('?')))).toBe('retry');
    expect(httpRetryClassifier({ unknownError: 'give-up' })(failure(new Error('?')))).toBe('give-up');
  });

  it('consults override first and falls through on undefined', () => {
    const c = httpRetryClassifier({
      override: (outcome) => (outcome.kind === 'status' && outcome.status === 404 ? 'success' : undefined),
    });
    expect(c(status(404))).toBe('success');
    expect(c(status(400))).toBe('dead-letter');
    expect(c(status(503))).toBe('retry');
    const errors = httpRetryClassifier({ override: (o) => (o.kind === 'error' ? 'give-up' : undefined) });
    expect(errors(failure(withCode('ECONNRESET')))).toBe('give-up');
  });

  it.each([
    ['retryStatuses', { retryStatuses: [503, 50] }],
    ['retryStatuses', { retryStatuses: [Number.NaN] }],
    ['giveUpStatuses', { giveUpStatuses: [410.5] }],
    ['unknownError', { unknownError: 'success' }],
  ])('rejects a bad %s', (option, options) => {
    const error = thrown(() => httpRetryClassifier(options as never));
    expect(error.code).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(error.message).toContain(option);
  });
});
