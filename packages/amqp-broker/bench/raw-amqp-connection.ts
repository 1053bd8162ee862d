/**
 * A minimal AMQP 0-9-1 client for the load generator, built on the package's own codec: PLAIN login, one
 * channel, no heartbeats. Control methods (handshake, qos, consume) go through the generated decoder;
 * the hot paths (publish, deliver, ack) are pre-encoded or hand-parsed bytes so the client costs far less
 * CPU than amqplib and the broker stays the bottleneck.
 */
import { connect, type Socket } from 'node:net';
import { ByteReader } from '../src/codec/byte-reader.js';
import { ByteWriter } from '../src/codec/byte-writer.js';
import type { FieldValue } from '../src/codec/field-table.js';
import { writeBodyFrames, writeHeaderFrame, writeMethodFrame } from '../src/codec/frame-encoder.js';
import { FrameParser } from '../src/codec/frame-parser.js';
import { type AmqpMethod, ClassId, FRAME_METHOD, MethodId } from '../src/codec/generated/amqp-spec.js';
import { decodeMethodFrame } from '../src/codec/method-decoder.js';

export interface AmqpTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  vhost: string;
}

export function parseAmqpUrl(url: string): AmqpTarget {
  const u = new URL(url);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: Number(u.port || 5672),
    user: decodeURIComponent(u.username || 'guest'),
    password: decodeURIComponent(u.password || 'guest'),
    vhost: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : '/',
  };
}

/** Handles one frame; `payload` is only valid during the call. */
export type RawFrameHandler = (type: number, channel: number, payload: Buffer) => void;

const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
export const CHANNEL = 1;

export class RawAmqpConnection {
  readonly socket: Socket;
  frameMax = 131_072;
  readonly #parser = new FrameParser(0);
  readonly #reader = new ByteReader();
  #waiter: { resolve: (m: AmqpMethod) => void; reject: (e: Error) => void } | undefined;
  #failure: Error | undefined;
  /** After setup, every frame goes here instead of the control path. */
  onFrame: RawFrameHandler | undefined;
  /** Called once when the connection fails or the broker closes it. */
  onError: (err: Error) => void = () => {};

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#parser.push(chunk, this.onFrame ?? this.#controlFrame);
        this.afterChunk?.();
      } catch (err) {
        this.#fail(err as Error);
      }
    });
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('socket closed')));
  }

  /** Called after each received chunk's frames were handled (to flush batched acks). */
  afterChunk: (() => void) | undefined;

  static async open(target: AmqpTarget): Promise<RawAmqpConnection> {
    const socket = connect({ host: target.host, port: target.port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawAmqpConnection(socket);
    socket.write(PROTOCOL_HEADER);
    await c.expect(MethodId.ConnectionStart);
    c.send(0, {
      id: MethodId.ConnectionStartOk,
      clientProperties: new Map<string, FieldValue>(),
      mechanism: 'PLAIN',
      response: Buffer.from(`\0${target.user}\0${target.password}`),
      locale: 'en_US',
    });
    const tune = await c.expect(MethodId.ConnectionTune);
    if (tune.id !== MethodId.ConnectionTune) throw new Error('unreachable');
    c.frameMax = tune.frameMax === 0 ? 131_072 : Math.min(tune.frameMax, 131_072);
    c.send(0, {
      id: MethodId.ConnectionTuneOk,
      channelMax: tune.channelMax,
      frameMax: c.frameMax,
      heartbeat: 0,
    });
    c.send(0, { id: MethodId.ConnectionOpen, virtualHost: target.vhost, capabilities: '', insist: false });
    await c.expect(MethodId.ConnectionOpenOk);
    c.send(CHANNEL, { id: MethodId.ChannelOpen, outOfBand: '' });
    await c.expect(MethodId.ChannelOpenOk);
    return c;
  }

  send(channel: number, method: AmqpMethod): void {
    const w = new ByteWriter(256);
    writeMethodFrame(w, channel, method);
    this.socket.write(w.take());
  }

  /** Waits for the next control method, which must be `id` (a close from the broker rejects). */
  expect(id: number): Promise<AmqpMethod> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<AmqpMethod>((resolve, reject) => {
      this.#waiter = {
        resolve: (m) => (m.id === id ? resolve(m) : reject(new Error(`expected method ${id}, got ${m.id}`))),
        reject,
      };
    });
  }

  /** Handles a method frame on the control path (also used by hot-path handlers for non-hot methods). */
  readonly #controlFrame = (type: number, _channel: number, payload: Buffer): void => {
    if (type !== FRAME_METHOD) return;
    const m = decodeMethodFrame(this.#reader, payload);
    if (m.id === MethodId.ConnectionClose || m.id === MethodId.ChannelClose) {
      this.#fail(new Error(`broker closed: ${m.replyCode} ${m.replyText}`));
      return;
    }
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve(m);
  };

  controlFrame(type: number, channel: number, payload: Buffer): void {
    this.#controlFrame(type, channel, payload);
  }

  #fail(err: Error): void {
    if (this.#failure) return;
    this.#failure = err;
    this.#waiter?.reject(err);
    this.#waiter = undefined;
    this.onError(err);
  }

  /** Drops the socket (the bench does not need a graceful close). */
  destroy(): void {
    this.#failure ??= new Error('destroyed');
    this.socket.destroy();
  }
}

/**
 * The bytes of one basic.publish (method, header, body frames) and where the body starts; delivery mode 1
 * is transient, 2 persistent.
 */
export function encodePublish(
  exchange: string,
  routingKey: string,
  body: Buffer,
  frameMax: number,
  deliveryMode: 1 | 2 = 1,
): { bytes: Buffer; bodyOffset: number } {
  const w = new ByteWriter(body.length + 256);
  writeMethodFrame(w, CHANNEL, {
    id: MethodId.BasicPublish,
    ticket: 0,
    exchange,
    routingKey,
    mandatory: false,
    immediate: false,
  });
  writeHeaderFrame(w, CHANNEL, ClassId.Basic, body.length, { deliveryMode });
  const bodyOffset = w.pos + 7;
  writeBodyFrames(w, CHANNEL, body, frameMax);
  return { bytes: w.toBuffer(), bodyOffset };
}
