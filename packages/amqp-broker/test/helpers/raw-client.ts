/**
 * A minimal AMQP client over a raw socket, built on the broker's own codec, for protocol-level tests:
 * it can send malformed bytes and observe exactly what the server answers.
 */
import { connect, type Socket } from 'node:net';
import { ByteReader } from '../../src/codec/byte-reader.js';
import { ByteWriter } from '../../src/codec/byte-writer.js';
import { writeBodyFrames, writeHeaderFrame, writeMethodFrame } from '../../src/codec/frame-encoder.js';
import { FrameParser } from '../../src/codec/frame-parser.js';
import {
  type AmqpMethod,
  type BasicProperties,
  FRAME_METHOD,
  MethodId,
} from '../../src/codec/generated/amqp-spec.js';
import { decodeMethodFrame } from '../../src/codec/method-decoder.js';

export const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

export interface RawFrame {
  readonly type: number;
  readonly channel: number;
  readonly payload: Buffer;
  readonly method?: AmqpMethod;
}

export class RawClient {
  readonly socket: Socket;
  readonly frames: RawFrame[] = [];
  raw = Buffer.alloc(0);
  closed = false;
  #parser = new FrameParser(0);
  #reader = new ByteReader();
  #waiters: (() => void)[] = [];
  #parseFrames = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.raw = Buffer.concat([this.raw, chunk]);
      if (this.#parseFrames) this.#feed(chunk);
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  #feed(chunk: Buffer): void {
    this.#parser.push(chunk, (type, channel, payload) => {
      const copy = Buffer.from(payload);
      const method = type === FRAME_METHOD ? decodeMethodFrame(this.#reader, copy) : undefined;
      this.frames.push(
        method === undefined ? { type, channel, payload: copy } : { type, channel, payload: copy, method },
      );
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `predicate` holds (checked after every read), or fails after `timeoutMs`. */
  async until(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  send(channel: number, method: AmqpMethod): void {
    const w = new ByteWriter(256);
    writeMethodFrame(w, channel, method);
    this.write(w.toBuffer());
  }

  publish(
    channel: number,
    exchange: string,
    routingKey: string,
    body: Buffer,
    props: BasicProperties = {},
    frameMax = 4096,
    mandatory = false,
  ): void {
    const w = new ByteWriter(256);
    writeMethodFrame(w, channel, {
      id: MethodId.BasicPublish,
      ticket: 0,
      exchange,
      routingKey,
      mandatory,
      immediate: false,
    });
    writeHeaderFrame(w, channel, 60, body.length, props);
    writeBodyFrames(w, channel, body, frameMax);
    this.write(w.toBuffer());
  }

  /** Waits for the next method with `id` (optionally on `channel`) not yet consumed by an earlier wait. */
  async expectMethod<I extends number>(
    id: I,
    channel?: number,
    timeoutMs = 5000,
  ): Promise<Extract<AmqpMethod, { id: I }>> {
    let found: RawFrame | undefined;
    await this.until(
      () => {
        const i = this.frames.findIndex(
          (f) => f.method?.id === id && (channel === undefined || f.channel === channel),
        );
        if (i < 0) return false;
        found = this.frames.splice(i, 1)[0];
        return true;
      },
      timeoutMs,
      `method ${id.toString(16)}`,
    );
    return found!.method as Extract<AmqpMethod, { id: I }>;
  }

  /** The connection.close or channel.close the server sent, if any. */
  closeMethod(): AmqpMethod | undefined {
    return this.frames.find(
      (f) => f.method?.id === MethodId.ConnectionClose || f.method?.id === MethodId.ChannelClose,
    )?.method;
  }

  /** Protocol header, start-ok (PLAIN guest/guest), tune-ok, open; resolves once open-ok arrived. */
  async handshake(
    options: { frameMax?: number; heartbeat?: number; channelMax?: number; vhost?: string } = {},
  ): Promise<void> {
    this.#parseFrames = true;
    this.write(PROTOCOL_HEADER);
    const start = await this.expectMethod(MethodId.ConnectionStart, 0);
    this.start = start;
    this.send(0, {
      id: MethodId.ConnectionStartOk,
      clientProperties: new Map([
        [
          'capabilities',
          {
            type: 'table',
            value: new Map([
              ['authentication_failure_close', { type: 'bool', value: true }],
              ['consumer_cancel_notify', { type: 'bool', value: true }],
            ]),
          },
        ],
      ]),
      mechanism: 'PLAIN',
      response: Buffer.from('\0guest\0guest'),
      locale: 'en_US',
    });
    const tune = await this.expectMethod(MethodId.ConnectionTune, 0);
    this.tune = tune;
    this.send(0, {
      id: MethodId.ConnectionTuneOk,
      channelMax: options.channelMax ?? tune.channelMax,
      frameMax: options.frameMax ?? tune.frameMax,
      heartbeat: options.heartbeat ?? 0,
    });
    this.send(0, {
      id: MethodId.ConnectionOpen,
      virtualHost: options.vhost ?? '/',
      capabilities: '',
      insist: false,
    });
    await this.expectMethod(MethodId.ConnectionOpenOk, 0);
  }

  start: Extract<AmqpMethod, { id: typeof MethodId.ConnectionStart }> | undefined;
  tune: Extract<AmqpMethod, { id: typeof MethodId.ConnectionTune }> | undefined;

  /** Starts frame parsing without a handshake (the test sends the header itself). */
  parseFrames(): void {
    this.#parseFrames = true;
  }

  async openChannel(channel: number): Promise<void> {
    this.send(channel, { id: MethodId.ChannelOpen, outOfBand: '' });
    await this.expectMethod(MethodId.ChannelOpenOk, channel);
  }

  close(): void {
    this.socket.destroy();
  }
}
