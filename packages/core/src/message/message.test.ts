import { afterEach, describe, expect, it, vi } from 'vitest';
import { CoreError } from '../errors.js';
import { createMessage, MAX_MESSAGE_ID_BYTES, type Message, withAttempt } from './message.js';
import { decodeMessage, encodeMessage } from './message-codec.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CoreError);
    return (error as CoreError).code;
  }
  throw new Error('expected a throw');
}

afterEach(() => {
  vi.useRealTimers();
});

describe('createMessage', () => {
  it('fills in the defaults', () => {
    const body = new Uint8Array([1, 2, 3]);
    const message = createMessage({ body, now: NOW });
    expect(message.body).toBe(body);
    expect(message.headers).toEqual({});
    expect(message.attempt).toBe(0);
    expect(message.createdAt).toBe(NOW);
    expect(message.id).toMatch(UUID_V7);
    expect(Object.keys(message).sort()).toEqual(['attempt', 'body', 'createdAt', 'headers', 'id']);
  });

  it('generates the id from the same time (far-future time so no earlier call outranks it)', () => {
    const later = Date.UTC(2200, 0, 1);
    const message = createMessage({ body: '', now: later });
    expect(Number.parseInt(message.id.replaceAll('-', '').slice(0, 12), 16)).toBe(later);
  });

  it('defaults the time to Date.now()', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW + 1234);
    expect(createMessage({ body: 'x' }).createdAt).toBe(NOW + 1234);
  });

  it('gives every message a distinct id', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => createMessage({ body: '', now: NOW }).id));
    expect(ids.size).toBe(1000);
  });

  it('turns a string body into its UTF-8 bytes', () => {
    const message = createMessage({ body: 'héllo €', now: NOW });
    expect(Buffer.from(message.body).toString('hex')).toBe('68c3a96c6c6f20e282ac');
    expect(createMessage({ body: '', now: NOW }).body.length).toBe(0);
  });

  it('keeps the given id, headers and notBefore', () => {
    const headers = { 'content-type': 'application/json', via: ['a', 'b'] };
    const message = createMessage({ body: '{}', id: 'order-42', headers, notBefore: NOW + 5000, now: NOW });
    expect(message.id).toBe('order-42');
    expect(message.headers).toBe(headers);
    expect(message.notBefore).toBe(NOW + 5000);
    expect('lastAttemptAt' in message).toBe(false);
  });

  it('keeps notBefore = 0 (present, not dropped as falsy)', () => {
    const message = createMessage({ body: '', now: NOW, notBefore: 0 });
    expect('notBefore' in message).toBe(true);
    expect(message.notBefore).toBe(0);
  });

  it('rejects an empty id', () => {
    expect(codeOf(() => createMessage({ body: '', id: '' }))).toBe('DSP_CORE_INVALID_ARGUMENT');
  });

  it('limits the id to 255 UTF-8 bytes, not characters', () => {
    expect(MAX_MESSAGE_ID_BYTES).toBe(255);
    expect(createMessage({ body: '', id: 'a'.repeat(255) }).id).toHaveLength(255);
    expect(createMessage({ body: '', id: `${'é'.repeat(127)}a` }).id).toHaveLength(128);
    expect(codeOf(() => createMessage({ body: '', id: 'a'.repeat(256) }))).toBe('DSP_CORE_INVALID_ARGUMENT');
    // 128 characters but 256 bytes.
    expect(codeOf(() => createMessage({ body: '', id: 'é'.repeat(128) }))).toBe('DSP_CORE_INVALID_ARGUMENT');
  });

  it('produces messages the codec round-trips', () => {
    const message = createMessage({
      body: 'payload',
      headers: { a: '1', b: ['2', '3'] },
      notBefore: NOW + 1,
      now: NOW,
    });
    const decoded = decodeMessage(encodeMessage(message));
    expect(decoded.id).toBe(message.id);
    expect(Buffer.from(decoded.body).toString()).toBe('payload');
    expect({ ...decoded.headers }).toEqual({ a: '1', b: ['2', '3'] });
    expect(decoded.createdAt).toBe(NOW);
    expect(decoded.notBefore).toBe(NOW + 1);
  });
});

describe('withAttempt', () => {
  const base: Message = createMessage({ body: 'b', id: 'm1', headers: { h: 'v' }, now: NOW, notBefore: NOW });

  it('increments attempt and records lastAttemptAt', () => {
    const once = withAttempt(base, NOW + 10);
    expect(once.attempt).toBe(1);
    expect(once.lastAttemptAt).toBe(NOW + 10);
    const twice = withAttempt(once, NOW + 20);
    expect(twice.attempt).toBe(2);
    expect(twice.lastAttemptAt).toBe(NOW + 20);
  });

  it('keeps every other field and leaves the input untouched', () => {
    const next = withAttempt(base, NOW + 10);
    expect(next).not.toBe(base);
    expect(next.id).toBe('m1');
    expect(next.body).toBe(base.body);
    expect(next.headers).toBe(base.headers);
    expect(next.createdAt).toBe(NOW);
    expect(next.notBefore).toBe(NOW);
    expect(base.attempt).toBe(0);
    expect('lastAttemptAt' in base).toBe(false);
  });

  it('defaults the attempt time to Date.now()', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW + 99);
    expect(withAttempt(base).lastAttemptAt).toBe(NOW + 99);
  });
});
