import { thrown } from '@dispatcher/tooling';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DispatcherError } from '../dispatcher-error.js';
import { CoreError } from '../errors.js';
import type { Message, MessageHeaders } from './message.js';
import { decodeMessage, encodeMessage } from './message-codec.js';

const MAX = Number.MAX_SAFE_INTEGER;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function fromHex(spaced: string): Buffer {
  return Buffer.from(spaced.replace(/\s+/g, ''), 'hex');
}

function expectDecodeError(data: Uint8Array, what?: RegExp): void {
  const err = thrown(() => decodeMessage(data));
  expect(err).toBeInstanceOf(CoreError);
  expect((err as CoreError).code).toBe('DSP_CORE_MESSAGE_DECODE');
  if (what) expect((err as CoreError).message).toMatch(what);
}

function expectInvalid(message: Message, what?: RegExp): void {
  const err = thrown(() => encodeMessage(message));
  expect(err).toBeInstanceOf(CoreError);
  expect((err as CoreError).code).toBe('DSP_CORE_INVALID_ARGUMENT');
  if (what) expect((err as CoreError).message).toMatch(what);
}

/** What a message looks like after a round trip: one-element header arrays come back as plain strings. */
function normalise(message: Message) {
  // fromEntries, not assignment, so that a header named "__proto__" stays an own property.
  const headers = Object.fromEntries(
    Object.entries(message.headers).map(([name, value]) => [
      name,
      Array.isArray(value) && value.length === 1 ? value[0] : value,
    ]),
  );
  return {
    id: message.id,
    body: hex(message.body),
    headers,
    headerOrder: Object.keys(message.headers),
    attempt: message.attempt,
    createdAt: message.createdAt,
    notBefore: message.notBefore,
    hasNotBefore: 'notBefore' in message,
    lastAttemptAt: message.lastAttemptAt,
    hasLastAttemptAt: 'lastAttemptAt' in message,
  };
}

const minimal: Message = { id: 'a', body: new Uint8Array(0), headers: {}, attempt: 0, createdAt: 0 };

// Golden vectors, written out by hand from the format in the header comment of message-codec.ts.
// Varints are unsigned LEB128: low 7 bits first, high bit set on every byte but the last.
const MINIMAL_HEX = [
  '01', // version 1
  '00', // flags: neither notBefore nor lastAttemptAt
  '00', // attempt 0
  '00', // createdAt 0
  '01 61', // idLen 1, "a"
  '00', // headerCount 0
  '00', // bodyLen 0
].join(' ');

const full: Message = {
  id: 'msg-1',
  body: Buffer.from('hi'),
  headers: { 'content-type': 'text/plain', 'x-tag': ['a', 'é'] },
  attempt: 3,
  createdAt: 1_700_000_000_000, // 0x18B_CFE5_6800
  notBefore: 300, // 0x12C
  lastAttemptAt: 1_700_000_000_500, // 0x18B_CFE5_69F4
};

const FULL_HEX = [
  '01', // version 1
  '03', // flags: notBefore (1) | lastAttemptAt (2)
  '03', // attempt 3
  '80 d0 95 ff bc 31', // createdAt 1_700_000_000_000
  'ac 02', // notBefore 300 = 0b10_0101100
  'f4 d3 95 ff bc 31', // lastAttemptAt 1_700_000_000_500
  '05 6d 73 67 2d 31', // idLen 5, "msg-1"
  '02', // headerCount 2
  '0c 63 6f 6e 74 65 6e 74 2d 74 79 70 65', // name "content-type"
  '01 0a 74 65 78 74 2f 70 6c 61 69 6e', // 1 value: "text/plain"
  '05 78 2d 74 61 67', // name "x-tag"
  '02 01 61 02 c3 a9', // 2 values: "a", "é" (UTF-8 c3 a9)
  '02 68 69', // bodyLen 2, "hi"
].join(' ');

const maxValues: Message = {
  id: 'z',
  body: Buffer.from([0x00, 0xff]),
  headers: {},
  attempt: MAX,
  createdAt: MAX,
  lastAttemptAt: 0,
};

const MAX_HEX = [
  '01', // version 1
  '02', // flags: lastAttemptAt only
  'ff ff ff ff ff ff ff 0f', // attempt 2^53 - 1: 53 one bits = 7 groups of 7 + 4 bits
  'ff ff ff ff ff ff ff 0f', // createdAt 2^53 - 1
  '00', // lastAttemptAt 0
  '01 7a', // idLen 1, "z"
  '00', // headerCount 0
  '02 00 ff', // bodyLen 2, body
].join(' ');

describe('encodeMessage / decodeMessage golden vectors', () => {
  it.each([
    ['minimal', minimal, MINIMAL_HEX],
    ['all fields', full, FULL_HEX],
    ['largest varints', maxValues, MAX_HEX],
  ] as const)('encodes the %s message to the documented bytes', (_name, message, expected) => {
    expect(hex(encodeMessage(message))).toBe(hex(fromHex(expected)));
  });

  it('decodes the minimal vector', () => {
    const decoded = decodeMessage(fromHex(MINIMAL_HEX));
    expect(decoded.id).toBe('a');
    expect(decoded.body.length).toBe(0);
    expect(Object.keys(decoded.headers)).toEqual([]);
    expect(decoded.attempt).toBe(0);
    expect(decoded.createdAt).toBe(0);
    expect('notBefore' in decoded).toBe(false);
    expect('lastAttemptAt' in decoded).toBe(false);
  });

  it('decodes the full vector, header values and order included', () => {
    const decoded = decodeMessage(fromHex(FULL_HEX));
    expect(decoded.id).toBe('msg-1');
    expect(Buffer.from(decoded.body).toString('utf8')).toBe('hi');
    expect(Object.keys(decoded.headers)).toEqual(['content-type', 'x-tag']);
    expect(decoded.headers['content-type']).toBe('text/plain');
    expect(decoded.headers['x-tag']).toEqual(['a', 'é']);
    expect(decoded.attempt).toBe(3);
    expect(decoded.createdAt).toBe(1_700_000_000_000);
    expect(decoded.notBefore).toBe(300);
    expect(decoded.lastAttemptAt).toBe(1_700_000_000_500);
  });

  it('decodes the largest varints exactly', () => {
    const decoded = decodeMessage(fromHex(MAX_HEX));
    expect(decoded.attempt).toBe(MAX);
    expect(decoded.createdAt).toBe(MAX);
    expect(decoded.lastAttemptAt).toBe(0);
    expect('notBefore' in decoded).toBe(false);
    expect(hex(decoded.body)).toBe('00ff');
  });

  it('returns a body that does not alias the input buffer', () => {
    const input = encodeMessage(full);
    const decoded = decodeMessage(input);
    input.fill(0);
    expect(Buffer.from(decoded.body).toString('utf8')).toBe('hi');
  });

  it('decodes a plain Uint8Array view with a non-zero byteOffset', () => {
    const encoded = encodeMessage(full);
    const backing = new Uint8Array(encoded.length + 7);
    backing.set(encoded, 3);
    const view = new Uint8Array(backing.buffer, 3, encoded.length);
    expect(Buffer.isBuffer(view)).toBe(false);
    expect(normalise(decodeMessage(view))).toEqual(normalise(full));
  });

  it('collapses a one-element header array to a string', () => {
    const decoded = decodeMessage(encodeMessage({ ...minimal, headers: { h: ['only'] } }));
    expect(decoded.headers.h).toBe('only');
  });

  it('grows its buffer for headers much larger than the body', () => {
    const big = 'x'.repeat(5000);
    const message: Message = { ...minimal, headers: { a: big, b: [big, big], c: 'ü'.repeat(3000) } };
    const decoded = decodeMessage(encodeMessage(message));
    expect(normalise(decoded)).toEqual(normalise(message));
  });
});

// ---------------------------------------------------------------------------------------------------
// Property-based round trips.

/** Well-formed Unicode (no lone surrogates, which UTF-8 cannot carry). */
const unicode = (maxLength: number) => fc.string({ unit: 'binary', maxLength });

const idArb = fc.oneof(
  unicode(63).filter((s) => s.length > 0 && Buffer.byteLength(s) <= 255),
  fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 255 }),
  fc.constantFrom('a'.repeat(255), `${'é'.repeat(127)}a`, '😀'.repeat(63), '\u0000'),
);

const headerValueArb = fc.oneof(unicode(20), fc.array(unicode(20), { minLength: 1, maxLength: 4 }));

const headersArb: fc.Arbitrary<MessageHeaders> = fc.dictionary(unicode(12), headerValueArb, { maxKeys: 6 });

const uintArb = fc.oneof(
  fc.nat(),
  fc.maxSafeNat(),
  fc.constantFrom(0, 127, 128, 16_383, 16_384, 2 ** 32 - 1, 2 ** 32, 2 ** 49, MAX),
);

const messageArb: fc.Arbitrary<Message> = fc
  .record({
    id: idArb,
    body: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(new Uint8Array(0))),
    headers: headersArb,
    attempt: uintArb,
    createdAt: uintArb,
    notBefore: fc.option(uintArb, { nil: undefined }),
    lastAttemptAt: fc.option(uintArb, { nil: undefined }),
  })
  .map(({ notBefore, lastAttemptAt, ...rest }) => ({
    ...rest,
    ...(notBefore === undefined ? {} : { notBefore }),
    ...(lastAttemptAt === undefined ? {} : { lastAttemptAt }),
  }));

describe('encodeMessage / decodeMessage properties', () => {
  it('round-trips every valid message', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const decoded = decodeMessage(encodeMessage(message));
        expect(normalise(decoded)).toEqual(normalise(message));
      }),
      { numRuns: 500 },
    );
  });

  it('is canonical: re-encoding a decoded message gives the same bytes', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const encoded = encodeMessage(message);
        expect(hex(encodeMessage(decodeMessage(encoded)))).toBe(hex(encoded));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects every strict prefix of a valid encoding as truncated', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const encoded = encodeMessage(message);
        for (let end = 0; end < encoded.length; end++) {
          expectDecodeError(encoded.subarray(0, end), /truncated/);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('rejects a valid encoding followed by extra bytes', () => {
    fc.assert(
      fc.property(messageArb, fc.uint8Array({ minLength: 1, maxLength: 8 }), (message, extra) => {
        expectDecodeError(Buffer.concat([encodeMessage(message), extra]), /trailing bytes/);
      }),
      { numRuns: 100 },
    );
  });
});

describe('decodeMessage failure paths', () => {
  it('rejects truncation at every byte offset of the golden vectors', () => {
    for (const vector of [MINIMAL_HEX, FULL_HEX, MAX_HEX]) {
      const bytes = fromHex(vector);
      for (let end = 0; end < bytes.length; end++) expectDecodeError(bytes.subarray(0, end), /truncated/);
    }
  });

  it('rejects empty input', () => {
    expectDecodeError(new Uint8Array(0), /truncated at byte 0/);
  });

  it.each([0, 2, 0xff])('rejects version %i', (version) => {
    expectDecodeError(fromHex(MINIMAL_HEX.replace(/^01/, version.toString(16).padStart(2, '0'))), /version/);
  });

  it.each([4, 8, 0x80, 0xff, 0x07])('rejects unknown flags %i', (flags) => {
    const bytes = fromHex(MINIMAL_HEX);
    bytes[1] = flags;
    expectDecodeError(bytes, /unknown flags/);
  });

  it('rejects an empty id', () => {
    expectDecodeError(fromHex('01 00 00 00 00 00 00'), /empty id/);
  });

  it('rejects trailing bytes', () => {
    expectDecodeError(fromHex(`${MINIMAL_HEX} 00`), /trailing bytes/);
    expectDecodeError(fromHex(`${FULL_HEX} ff ff`), /trailing bytes/);
  });

  it('rejects a varint longer than 8 bytes', () => {
    // attempt: nine bytes, all but the last with the continuation bit.
    expectDecodeError(fromHex('01 00 80 80 80 80 80 80 80 80 00 00 01 61 00 00'), /varint too long/);
    expectDecodeError(fromHex('01 00 ff ff ff ff ff ff ff ff ff'), /varint too long/);
  });

  it('rejects a varint above 2^53 - 1', () => {
    // createdAt = 2^53: 80 80 80 80 80 80 80 10.
    expectDecodeError(fromHex('01 00 00 80 80 80 80 80 80 80 10 01 61 00 00'), /varint out of range/);
    expectDecodeError(fromHex('01 00 00 ff ff ff ff ff ff ff 7f 01 61 00 00'), /varint out of range/);
  });

  it('rejects a header with zero values', () => {
    // 1 header named "h" with valueCount 0.
    expectDecodeError(fromHex('01 00 00 00 01 61 01 01 68 00 00'), /header "h" has no value/);
  });

  it('rejects lengths that run past the end', () => {
    expectDecodeError(fromHex('01 00 00 00 05 61'), /truncated/); // idLen 5, 1 byte left
    expectDecodeError(fromHex('01 00 00 00 01 61 01 7f 68'), /truncated/); // header name length 127
    expectDecodeError(fromHex('01 00 00 00 01 61 00 ff ff ff ff 0f'), /truncated/); // huge bodyLen
    // headerCount 2^53 - 1 with nothing after it fails fast instead of looping.
    expectDecodeError(fromHex('01 00 00 00 01 61 ff ff ff ff ff ff ff 0f'), /truncated/);
  });

  it('rejects truncated optional timestamps', () => {
    expectDecodeError(fromHex('01 01 00 00'), /truncated/); // flags say notBefore, none follows
    expectDecodeError(fromHex('01 03 00 00 00'), /truncated/); // lastAttemptAt missing
  });
});

describe('decodeMessage on arbitrary input', () => {
  function decodesOrThrowsDecodeError(data: Uint8Array): void {
    try {
      const message = decodeMessage(data);
      expect(typeof message.id).toBe('string');
      expect(message.id.length).toBeGreaterThan(0);
      expect(Number.isSafeInteger(message.attempt)).toBe(true);
      expect(Number.isSafeInteger(message.createdAt)).toBe(true);
    } catch (err) {
      expect(err).toBeInstanceOf(CoreError);
      expect(DispatcherError.hasCode(err, 'DSP_CORE_MESSAGE_DECODE')).toBe(true);
    }
  }

  it('returns a message or throws DSP_CORE_MESSAGE_DECODE for random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodesOrThrowsDecodeError), { numRuns: 2000 });
  });

  it('returns a message or throws DSP_CORE_MESSAGE_DECODE for random bytes behind a valid prefix', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 64 }), (flags, rest) => {
        decodesOrThrowsDecodeError(Buffer.concat([Buffer.from([1, flags]), rest]));
      }),
      { numRuns: 2000 },
    );
  });

  it('returns a message or throws DSP_CORE_MESSAGE_DECODE for mutated valid encodings', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (message, at, byte) => {
        const encoded = Buffer.from(encodeMessage(message));
        encoded[at % encoded.length] = byte;
        decodesOrThrowsDecodeError(encoded);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('encodeMessage validation', () => {
  it('rejects an empty id', () => {
    expectInvalid({ ...minimal, id: '' }, /id/);
  });

  it('accepts an id of exactly 255 bytes and rejects 256 (counted in UTF-8 bytes)', () => {
    expect(decodeMessage(encodeMessage({ ...minimal, id: 'a'.repeat(255) })).id).toBe('a'.repeat(255));
    expectInvalid({ ...minimal, id: 'a'.repeat(256) }, /id/);
    expectInvalid({ ...minimal, id: 'é'.repeat(128) }, /id/); // 128 chars, 256 bytes
  });

  it.each(['attempt', 'createdAt', 'notBefore', 'lastAttemptAt'] as const)(
    'rejects a %s that is not a safe unsigned integer',
    (field) => {
      for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX + 1, '5' as unknown as number]) {
        expectInvalid({ ...minimal, [field]: bad }, new RegExp(field));
      }
      expect(() => encodeMessage({ ...minimal, [field]: MAX })).not.toThrow();
    },
  );

  it('rejects a header with an empty value list (the decoder could not read it back)', () => {
    expectInvalid({ ...minimal, headers: { ok: 'v', empty: [] } }, /header "empty"/);
  });
});

describe('peekMessage', () => {
  it('reads id and timestamps without the headers or body, and rejects what decodeMessage rejects', async () => {
    const { peekMessage } = await import('./message-codec.js');
    const full = encodeMessage({
      id: 'm-1',
      body: Buffer.from('body'),
      headers: { a: 'b' },
      attempt: 3,
      createdAt: 1_700_000_000_000,
      notBefore: 1_700_000_001_000,
    });
    expect(peekMessage(full)).toEqual({
      id: 'm-1',
      attempt: 3,
      createdAt: 1_700_000_000_000,
      notBefore: 1_700_000_001_000,
    });
    expect(() => peekMessage(Buffer.from([9]))).toThrow(
      expect.objectContaining({ code: 'DSP_CORE_MESSAGE_DECODE' }),
    );
    expect(() => peekMessage(full.subarray(0, 4))).toThrow(
      expect.objectContaining({ code: 'DSP_CORE_MESSAGE_DECODE' }),
    );
  });
});
