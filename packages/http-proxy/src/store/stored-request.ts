/**
 * A request as the proxy stores it: core's `Message` (id, body, forwarded headers, timestamps) plus the
 * delivery envelope (method, target, per-request overrides).
 *
 *   u8 version (1) | u32 LE envelope length | envelope JSON (UTF-8) | encodeMessage(message)
 *
 * The envelope uses short keys (see `Envelope`): it is written once per request and read at every delivery.
 */
import {
  decodeMessage,
  encodeMessage,
  type Message,
  type MessageSummary,
  peekMessage,
} from '@dispatcher/core';
import { ProxyError } from '../errors.js';

export interface StoredRequest {
  message: Message;
  method: string;
  /** Absolute URL to deliver to. */
  target: string;
  timeoutMs?: number;
  retryLimit?: number;
  idempotencyKey?: string;
  callbackUrl?: string;
  failureCallbackUrl?: string;
  /** `callback` marks a notification the proxy generated itself (it gets no callbacks of its own). */
  kind?: 'request' | 'callback';
  /** Id of the dead-lettered message this one was redriven from (a redrive keeps the id: the same). */
  redrivenFrom?: string;
  /**
   * Sequence number, in the dead-letter log, of the letter this request was redriven from: recovery uses it
   * to finish a redrive that a crash interrupted (see `ProxyStore.recover`).
   */
  redriveOf?: number;
}

interface Envelope {
  m: string;
  t: string;
  to?: number;
  rl?: number;
  ik?: string;
  cb?: string;
  fcb?: string;
  k?: 'callback';
  rf?: string;
  rd?: number;
}

const VERSION = 1;
/** Version byte and envelope length. */
const HEAD_BYTES = 5;

export function encodeStoredRequest(req: StoredRequest): Buffer {
  const env: Envelope = { m: req.method, t: req.target };
  if (req.timeoutMs !== undefined) env.to = req.timeoutMs;
  if (req.retryLimit !== undefined) env.rl = req.retryLimit;
  if (req.idempotencyKey !== undefined) env.ik = req.idempotencyKey;
  if (req.callbackUrl !== undefined) env.cb = req.callbackUrl;
  if (req.failureCallbackUrl !== undefined) env.fcb = req.failureCallbackUrl;
  if (req.kind === 'callback') env.k = 'callback';
  if (req.redrivenFrom !== undefined) env.rf = req.redrivenFrom;
  if (req.redriveOf !== undefined) env.rd = req.redriveOf;
  const envBytes = Buffer.from(JSON.stringify(env));
  const msg = encodeMessage(req.message);
  const head = Buffer.allocUnsafe(HEAD_BYTES);
  head[0] = VERSION;
  head.writeUInt32LE(envBytes.length, 1);
  return Buffer.concat([head, envBytes, msg]);
}

export function decodeStoredRequest(data: Buffer): StoredRequest {
  return decoding(() => {
    const { env, message } = splitRecord(data);
    const req: StoredRequest = { message: decodeMessage(message), method: env.m, target: env.t };
    if (env.to !== undefined) req.timeoutMs = env.to;
    if (env.rl !== undefined) req.retryLimit = env.rl;
    if (env.ik !== undefined) req.idempotencyKey = env.ik;
    if (env.cb !== undefined) req.callbackUrl = env.cb;
    if (env.fcb !== undefined) req.failureCallbackUrl = env.fcb;
    req.kind = env.k === 'callback' ? 'callback' : 'request';
    if (env.rf !== undefined) req.redrivenFrom = env.rf;
    if (env.rd !== undefined) req.redriveOf = env.rd;
    return req;
  });
}

/** What scheduling needs of a stored request: no headers, no body copy (recovery of large backlogs). */
export interface StoredRequestSummary {
  target: string;
  message: MessageSummary;
  /** See {@link StoredRequest.redriveOf}. */
  redriveOf?: number;
}

export function peekStoredRequest(data: Buffer): StoredRequestSummary {
  return decoding(() => {
    const { env, message } = splitRecord(data);
    const summary = peekMessage(message);
    return env.rd === undefined
      ? { target: env.t, message: summary }
      : { target: env.t, message: summary, redriveOf: env.rd };
  });
}

/** The record's checked header and envelope, and the bytes of the message after them. */
function splitRecord(data: Buffer): { env: Envelope; message: Buffer } {
  if (data[0] !== VERSION || data.length < HEAD_BYTES) throw new Error(`unknown version ${data[0]}`);
  const envEnd = HEAD_BYTES + data.readUInt32LE(1);
  const env = JSON.parse(data.subarray(HEAD_BYTES, envEnd).toString('utf8')) as Envelope;
  if (typeof env.m !== 'string' || typeof env.t !== 'string')
    throw new Error('envelope without method/target');
  return { env, message: data.subarray(envEnd) };
}

/** Any failure to read a record becomes one coded error. */
function decoding<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new ProxyError(
      'DSP_PROXY_RECORD_DECODE',
      `stored request cannot be decoded: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
