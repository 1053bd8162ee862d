/**
 * msgpack codec of medispatcher jobs.
 *
 * Reading follows the original Go reader: keys are matched after upper-casing their first letter (so PHP's
 * camelCase `msgKey` and Go's `MsgKey` both work; `owlContext` is accepted too), `OriginJobId`, `LogId` and
 * `RetryTimes` may arrive as numeric strings, `Time` as a numeric string. Unknown keys are ignored.
 *
 * Writing matches what a Go 2.5.1 dispatcher writes (vmihailenco/msgpack.v2 2.2.1 marshalling `MessageStuct`):
 * a map of the 11 PascalCase fields, unsigned integers in their shortest form, `Time` always a float64 (`0xcb`)
 * and the strings `Context` / `Owl_context` always present. Go iterates that library's field table as a Go map,
 * so its key order varies from job to job; readers (ours and Go's) do not depend on it and we write the
 * struct's declaration order.
 */
import { DecodeError, Decoder, Encoder } from '@msgpack/msgpack';
import { PushError } from '../errors.js';
import { JOB_MESSAGE_DEFAULTS, type JobMessage } from './job-message.js';

type NumericField = 'time' | 'originJobId' | 'retryTimes' | 'logId' | 'delay' | 'priority';

// Upper-first key (as Go's reader sees it) → our field.
const FIELD_BY_KEY: Record<string, keyof JobMessage> = {
  MsgKey: 'msgKey',
  Body: 'body',
  Sender: 'sender',
  Time: 'time',
  OriginJobId: 'originJobId',
  RetryTimes: 'retryTimes',
  LogId: 'logId',
  Delay: 'delay',
  Priority: 'priority',
  Context: 'context',
  Owl_context: 'owlContext',
  OwlContext: 'owlContext',
};

const NUMERIC = new Set<keyof JobMessage>([
  'time',
  'originJobId',
  'retryTimes',
  'logId',
  'delay',
  'priority',
]);
const STRINGS = new Set<keyof JobMessage>(['sender', 'context', 'owlContext']);
const utf8 = new TextDecoder();
// One of each for the process: the library's encode()/decode() build a new Encoder (with a fresh 2 KB buffer)
// or Decoder per call, and a job takes 22 encode() calls: garbage for the GC on every job and push.
// Both are safe to share: they are synchronous and clone themselves if ever re-entered.
const encoder = new Encoder();
const decoder = new Decoder();
const encode = (value: unknown): Uint8Array => encoder.encode(value);
const KEY_BYTES = new Map<string, Uint8Array>();
function keyBytes(key: string): Uint8Array {
  let bytes = KEY_BYTES.get(key);
  if (!bytes) {
    bytes = encode(key);
    KEY_BYTES.set(key, bytes);
  }
  return bytes;
}

function toNumber(field: string, value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  if (value === null || value === undefined) return 0;
  throw new PushError('DSP_PUSH_JOB_DECODE', `job field ${field} is not a number: ${JSON.stringify(value)}`);
}

/** Binary strings (old PHP msgpack, Go `[]byte`) become text so the body can be pushed as JSON. */
function textify(value: unknown): unknown {
  if (value instanceof Uint8Array) return utf8.decode(value);
  if (Array.isArray(value)) return value.map(textify);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = textify(v);
    return out;
  }
  return value;
}

/** Decodes a job body from a tube or the recover list. */
export function decodeJob(bytes: Uint8Array): JobMessage {
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
  } catch (err) {
    throw new PushError('DSP_PUSH_JOB_DECODE', 'job body is not valid msgpack', {
      cause: err instanceof DecodeError || err instanceof Error ? err : undefined,
    });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array)
    throw new PushError('DSP_PUSH_JOB_DECODE', 'job body is not a msgpack map');
  const out: Record<string, unknown> = { ...JOB_MESSAGE_DEFAULTS, body: null };
  for (const [key, value] of Object.entries(raw)) {
    const field = FIELD_BY_KEY[key.charAt(0).toUpperCase() + key.slice(1)];
    if (field === undefined) continue;
    if (NUMERIC.has(field)) out[field] = toNumber(key, value) as JobMessage[NumericField];
    else if (STRINGS.has(field) || field === 'msgKey')
      out[field] = value === null || value === undefined ? '' : String(textify(value));
    else out[field] = textify(value);
  }
  if (typeof out.msgKey !== 'string' || out.msgKey === '')
    throw new PushError('DSP_PUSH_JOB_DECODE', 'job has no MsgKey (topic)');
  return out as unknown as JobMessage;
}

/**
 * Unwraps a recover-list value: a msgpack str (PHP producers) or bin (Go's push-back) whose raw bytes are the
 * msgpack job. The header is parsed by hand because the inner bytes are rarely valid UTF-8 and a str decoder
 * would mangle them.
 */
export function unwrapRecoverValue(value: Uint8Array): Uint8Array {
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const first = value[0];
  let offset: number;
  let length: number;
  if (first === undefined) throw new PushError('DSP_PUSH_JOB_DECODE', 'recover-list value is empty');
  if (first >= 0xa0 && first <= 0xbf) {
    offset = 1;
    length = first & 0x1f;
  } else if ((first === 0xd9 || first === 0xc4) && value.length >= 2) {
    offset = 2;
    length = view.getUint8(1);
  } else if ((first === 0xda || first === 0xc5) && value.length >= 3) {
    offset = 3;
    length = view.getUint16(1);
  } else if ((first === 0xdb || first === 0xc6) && value.length >= 5) {
    offset = 5;
    length = view.getUint32(1);
  } else {
    throw new PushError('DSP_PUSH_JOB_DECODE', 'recover-list value is not a msgpack string or bin');
  }
  if (offset + length !== value.length)
    throw new PushError('DSP_PUSH_JOB_DECODE', 'recover-list value length does not match its msgpack header');
  return value.subarray(offset);
}

/** Wraps job bytes as the original pushes them back onto the recover list (a msgpack bin). */
export function wrapRecoverValue(job: Uint8Array): Uint8Array {
  return encode(job);
}

const FLOAT64 = 0xcb;
function float64(value: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = FLOAT64;
  new DataView(out.buffer).setFloat64(1, value);
  return out;
}

function unsigned(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new PushError(
      'DSP_PUSH_JOB_ENCODE',
      `job field ${field} must be a non-negative integer, got ${value}`,
    );
  return value;
}

/** Encodes a job the way a Go dispatcher does (PascalCase keys, see the file header). */
export function encodeJob(job: JobMessage): Uint8Array {
  const entries: [string, Uint8Array][] = [];
  const add = (key: string, bytes: Uint8Array) => entries.push([key, bytes]);
  try {
    add('MsgKey', encode(job.msgKey));
    add('Body', encode(job.body ?? null));
  } catch (err) {
    throw new PushError('DSP_PUSH_JOB_ENCODE', 'job body cannot be encoded as msgpack', {
      cause: err instanceof Error ? err : undefined,
    });
  }
  add('Sender', encode(job.sender));
  add('Time', float64(job.time));
  add('OriginJobId', encode(unsigned('OriginJobId', job.originJobId)));
  add('RetryTimes', encode(unsigned('RetryTimes', job.retryTimes)));
  add('LogId', encode(unsigned('LogId', job.logId)));
  add('Delay', encode(unsigned('Delay', job.delay)));
  add('Priority', encode(unsigned('Priority', job.priority)));
  add('Context', encode(job.context));
  add('Owl_context', encode(job.owlContext));
  const parts: Uint8Array[] = [Uint8Array.of(0x80 | entries.length)];
  for (const [key, bytes] of entries) parts.push(keyBytes(key), bytes);
  return Buffer.concat(parts);
}
