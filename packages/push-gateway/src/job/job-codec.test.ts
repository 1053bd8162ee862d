import { readFileSync } from 'node:fs';
import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { PushError } from '../errors.js';
import { decodeJob, encodeJob, unwrapRecoverValue, wrapRecoverValue } from './job-codec.js';
import type { JobMessage } from './job-message.js';
import { channelTube, deadLetterTube, pushJobId, retryTube } from './tube-names.js';

function fixture(): Buffer {
  const text = readFileSync(new URL('../../test/fixtures/go-job.hex', import.meta.url), 'utf8');
  const hex = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  return Buffer.from(hex, 'hex');
}

const goJob: JobMessage = {
  msgKey: 'order.paid',
  body: { order_id: 'A1001' },
  sender: 'shop-api',
  time: 1700000000.25,
  originJobId: 123456,
  retryTimes: 3,
  logId: 0,
  delay: 0,
  priority: 1024,
  context: 'ctx-1',
  owlContext: 'owl-1',
};

describe('job codec', () => {
  it('reads the Go-format fixture', () => {
    expect(decodeJob(fixture())).toEqual(goJob);
  });

  it('writes byte for byte what the Go dispatcher writes', () => {
    expect(Buffer.from(encodeJob(goJob)).toString('hex')).toBe(fixture().toString('hex'));
  });

  it('writes Time as float64 even when it is a whole number', () => {
    const bytes = Buffer.from(encodeJob({ ...goJob, time: 1700000000 }));
    const at = bytes.indexOf(Buffer.from('Time')) + 4;
    expect(bytes[at]).toBe(0xcb);
    expect(decodeJob(bytes).time).toBe(1700000000);
  });

  it('reads camelCase PHP jobs with numeric strings and missing fields', () => {
    const php = encode({
      msgKey: 'user.created',
      body: [1, 'two', { three: 3 }],
      sender: 'php',
      time: '1700000001.5',
      originJobId: '77',
      owl_context: 'o',
    });
    expect(decodeJob(php)).toEqual({
      msgKey: 'user.created',
      body: [1, 'two', { three: 3 }],
      sender: 'php',
      time: 1700000001.5,
      originJobId: 77,
      retryTimes: 0,
      logId: 0,
      delay: 0,
      priority: 0,
      context: '',
      owlContext: 'o',
    });
  });

  it('round-trips through encode/decode', () => {
    const job = { ...goJob, body: { nested: { list: [1, 2.5, -3, 'x', null, true] } }, originJobId: 2 ** 40 };
    expect(decodeJob(encodeJob(job))).toEqual(job);
  });

  it('rejects garbage with DSP_PUSH_JOB_DECODE', () => {
    for (const bad of [
      Buffer.from([0xc1]),
      encode('just a string'),
      encode({ Body: 1 }),
      encode({ MsgKey: 'a', Time: 'soon' }),
    ]) {
      expect(() => decodeJob(bad)).toThrow(expect.objectContaining({ code: 'DSP_PUSH_JOB_DECODE' }));
    }
    expect(() => encodeJob({ ...goJob, retryTimes: -1 })).toThrow(PushError);
  });

  it('unwraps recover-list values written as msgpack str (PHP) and bin (Go push-back)', () => {
    const job = Buffer.from(encodeJob(goJob));
    // PHP: the job bytes inside a str header (str8 here: 32..255 bytes), bytes kept as they are.
    const asStr = Buffer.concat([Buffer.from([0xd9, job.length]), job]);
    expect(Buffer.from(unwrapRecoverValue(asStr))).toEqual(job);
    const asBin = Buffer.from(wrapRecoverValue(job));
    expect(asBin[0]).toBe(0xc4);
    expect(Buffer.from(unwrapRecoverValue(asBin))).toEqual(job);
    expect(() => unwrapRecoverValue(Buffer.from([0x91, 0x01]))).toThrow(PushError);
    expect(() => unwrapRecoverValue(Buffer.from([0xa5, 0x01]))).toThrow(PushError);
  });

  it('names tubes and push ids like the original', () => {
    expect(channelTube('order.paid', 7)).toBe('order.paid/sub-queue/7');
    expect(retryTube('order.paid', 7)).toBe('order.paid/sub-queue/7/FAIL');
    expect(deadLetterTube('order.paid', 7)).toBe('order.paid/sub-queue/7/DEAD');
    expect(pushJobId(1700000000.25, 42, 7)).toBe('1700000000.250000-42-7');
  });
});
