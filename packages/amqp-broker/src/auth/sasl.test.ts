import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../codec/byte-writer.js';
import { str, writeFieldValue } from '../codec/field-table.js';
import { parseSaslResponse } from './sasl.js';

describe('SASL responses', () => {
  it('parses PLAIN with and without authzid', () => {
    expect(parseSaslResponse('PLAIN', Buffer.from('\0guest\0guest'))).toEqual({
      username: 'guest',
      password: 'guest',
    });
    expect(parseSaslResponse('PLAIN', Buffer.from('admin\0bob\0s3cr\0t'))).toEqual({
      username: 'bob',
      password: 's3cr\0t',
    });
    expect(parseSaslResponse('PLAIN', Buffer.from('guest'))).toBeUndefined();
  });

  it('parses AMQPLAIN (a table body without length)', () => {
    const w = new ByteWriter(64);
    w.shortStr('LOGIN');
    writeFieldValue(w, str('guest'));
    w.shortStr('PASSWORD');
    writeFieldValue(w, str('pw'));
    expect(parseSaslResponse('AMQPLAIN', w.toBuffer())).toEqual({ username: 'guest', password: 'pw' });
    expect(parseSaslResponse('AMQPLAIN', Buffer.from([5, 1]))).toBeUndefined();
  });
});
