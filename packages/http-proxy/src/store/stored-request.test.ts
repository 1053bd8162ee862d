import { createMessage } from '@dispatcher/core';
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../errors.js';
import {
  decodeStoredRequest,
  encodeStoredRequest,
  peekStoredRequest,
  type StoredRequest,
} from './stored-request.js';

const request: StoredRequest = {
  message: createMessage({
    id: 'm-1',
    body: Buffer.from('hello'),
    headers: { 'content-type': 'text/plain' },
  }),
  method: 'POST',
  target: 'https://api.example.com/hook?x=1',
  timeoutMs: 5_000,
  retryLimit: 3,
  callbackUrl: 'https://cb.example.com/done',
  kind: 'request',
  redriveOf: 7,
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return ProxyError.isInstance(err) ? err.code : 'not a ProxyError';
  }
  return undefined;
}

describe('stored request format', () => {
  it('writes the envelope length as u32 LE after the version byte', () => {
    const data = encodeStoredRequest(request);
    expect(data[0]).toBe(1);
    const envLen = data.readUInt32LE(1);
    const env = JSON.parse(data.subarray(5, 5 + envLen).toString('utf8')) as Record<string, unknown>;
    expect(env).toMatchObject({ m: 'POST', t: request.target, to: 5_000, rl: 3, rd: 7 });
  });

  it('round-trips through decode and peek', () => {
    const data = encodeStoredRequest(request);
    const back = decodeStoredRequest(data);
    expect(back).toEqual({ ...request, message: { ...request.message, body: Buffer.from('hello') } });
    const summary = peekStoredRequest(data);
    expect(summary.target).toBe(request.target);
    expect(summary.redriveOf).toBe(7);
    expect(summary.message.id).toBe('m-1');
  });

  it('refuses an unknown version, a short record and a bad envelope with DSP_PROXY_RECORD_DECODE', () => {
    const data = encodeStoredRequest(request);
    const wrongVersion = Buffer.from(data);
    wrongVersion[0] = 2;
    const badEnvelope = Buffer.concat([
      data.subarray(0, 5),
      Buffer.alloc(data.readUInt32LE(1), 0x20),
      data.subarray(5 + data.readUInt32LE(1)),
    ]);
    for (const bad of [wrongVersion, data.subarray(0, 3), badEnvelope]) {
      expect(codeOf(() => decodeStoredRequest(bad))).toBe('DSP_PROXY_RECORD_DECODE');
      expect(codeOf(() => peekStoredRequest(bad))).toBe('DSP_PROXY_RECORD_DECODE');
    }
  });
});
