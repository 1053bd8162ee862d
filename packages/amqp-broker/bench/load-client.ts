/**
 * One load-generator process (forked by broker.bench.ts): a producer publishing pre-encoded transient
 * messages as fast as the socket takes them, or a consumer acking every delivery (acks of one socket chunk
 * go out in one write). Every body starts with the send time (float64, ms since the epoch, sub-ms
 * precision) for latency. Talks to the parent over IPC: ready → go → mark (reset counters) → report → stop.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { FRAME_BODY, FRAME_HEADER, FRAME_METHOD, MethodId } from '../src/codec/generated/amqp-spec.js';
import { LatencyHistogram } from './latency-histogram.js';
import { CHANNEL, encodePublish, parseAmqpUrl, RawAmqpConnection } from './raw-amqp-connection.js';

export interface LoadClientConfig {
  url: string;
  role: 'producer' | 'consumer';
  /** Producer: where to publish, and the body size in bytes (≥ 8). */
  exchange: string;
  routingKey: string;
  bodyBytes: number;
  /** Consumer: queues to consume from (one consumer each), prefetch per consumer, auto-ack. */
  queues: string[];
  qos: number;
  noAck: boolean;
  /** Producer: messages per second to publish at; 0 = as fast as the socket takes them. */
  ratePerSec: number;
}

export type ParentCommand = 'go' | 'mark' | 'report' | 'stop';
export type ClientMessage =
  | { type: 'ready' }
  | {
      type: 'report';
      role: 'producer' | 'consumer';
      published: number;
      delivered: number;
      elapsedMs: number;
      /** CPU time this process used in the window, user + system, in ms. */
      cpuMs: number;
      histogram: number[];
    }
  | { type: 'error'; message: string };

const BATCH_BYTES = 32 * 1024;
const ACK_FRAME_BYTES = 21;
const now = (): number => performance.timeOrigin + performance.now();
const send = (m: ClientMessage): void => {
  process.send?.(m);
};

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as LoadClientConfig;
  const conn = await RawAmqpConnection.open(parseAmqpUrl(config.url));
  let published = 0;
  let delivered = 0;
  let markedAt = now();
  let cpuAtMark = process.cpuUsage();
  let histogram = new LatencyHistogram();
  let running = false;
  let stopping = false;
  conn.onError = (err) => {
    if (stopping) return;
    send({ type: 'error', message: `${config.role}: ${err.message}` });
    process.exit(1);
  };

  if (config.role === 'consumer') {
    let tag = 0;
    let bodySize = 0;
    let received = 0;
    let sentAt = 0;
    let acks = Buffer.allocUnsafe(ACK_FRAME_BYTES * 256);
    let ackBytes = 0;
    const complete = (): void => {
      delivered++;
      if (sentAt > 0) histogram.record(now() - sentAt);
      if (config.noAck) return;
      if (ackBytes + ACK_FRAME_BYTES > acks.length) {
        const bigger = Buffer.allocUnsafe(acks.length * 2);
        acks.copy(bigger, 0, 0, ackBytes);
        acks = bigger;
      }
      const o = ackBytes;
      acks[o] = FRAME_METHOD;
      acks.writeUInt16BE(CHANNEL, o + 1);
      acks.writeUInt32BE(13, o + 3);
      acks.writeUInt32BE(MethodId.BasicAck, o + 7);
      acks.writeUInt32BE(Math.floor(tag / 2 ** 32), o + 11);
      acks.writeUInt32BE(tag >>> 0, o + 15);
      acks[o + 19] = 0; // multiple = false
      acks[o + 20] = 0xce;
      ackBytes += ACK_FRAME_BYTES;
    };
    conn.onFrame = (type, channel, p) => {
      if (type === FRAME_METHOD) {
        if (p.readUInt32BE(0) === MethodId.BasicDeliver) {
          const o = 5 + p[4]!;
          tag = p.readUInt32BE(o) * 2 ** 32 + p.readUInt32BE(o + 4);
        } else {
          conn.controlFrame(type, channel, p);
        }
      } else if (type === FRAME_HEADER) {
        bodySize = p.readUInt32BE(4) * 2 ** 32 + p.readUInt32BE(8);
        received = 0;
        sentAt = 0;
        if (bodySize === 0) complete();
      } else if (type === FRAME_BODY) {
        if (received === 0 && p.length >= 8) sentAt = p.readDoubleLE(0);
        received += p.length;
        if (received >= bodySize) complete();
      }
    };
    conn.afterChunk = () => {
      if (ackBytes === 0) return;
      conn.socket.write(acks.subarray(0, ackBytes));
      acks = Buffer.allocUnsafe(acks.length);
      ackBytes = 0;
    };
    if (!config.noAck) {
      conn.send(CHANNEL, {
        id: MethodId.BasicQos,
        prefetchSize: 0,
        prefetchCount: config.qos,
        global: false,
      });
      await conn.expect(MethodId.BasicQosOk);
    }
    for (const queue of config.queues) {
      conn.send(CHANNEL, {
        id: MethodId.BasicConsume,
        ticket: 0,
        queue,
        consumerTag: '',
        noLocal: false,
        noAck: config.noAck,
        exclusive: false,
        nowait: false,
        arguments: new Map(),
      });
      await conn.expect(MethodId.BasicConsumeOk);
    }
  }

  const body = Buffer.alloc(Math.max(8, config.bodyBytes), 0x61);
  const { bytes, bodyOffset } = encodePublish(config.exchange, config.routingKey, body, conn.frameMax);
  const fullBatch = Math.max(1, Math.floor(BATCH_BYTES / bytes.length));
  // Rate-limited: batches of about 1 ms worth of messages.
  const perBatch =
    config.ratePerSec > 0
      ? Math.max(1, Math.min(fullBatch, Math.round(config.ratePerSec / 1000)))
      : fullBatch;
  const template = Buffer.allocUnsafe(bytes.length * perBatch);
  for (let i = 0; i < perBatch; i++) bytes.copy(template, i * bytes.length);
  const startedAt = now();
  let sent = 0;
  const pump = async (): Promise<void> => {
    while (running) {
      if (config.ratePerSec > 0) {
        const due = startedAt + (sent / config.ratePerSec) * 1000;
        const wait = due - now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.max(1, wait)));
      }
      sent += perBatch;
      const batch = Buffer.allocUnsafe(template.length);
      template.copy(batch);
      const t = now();
      for (let i = 0; i < perBatch; i++) batch.writeDoubleLE(t, i * bytes.length + bodyOffset);
      published += perBatch;
      if (!conn.socket.write(batch)) await once(conn.socket, 'drain');
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };

  process.on('message', (cmd: ParentCommand) => {
    switch (cmd) {
      case 'go':
        if (config.role === 'producer' && !running) {
          running = true;
          pump().catch((err: unknown) => send({ type: 'error', message: String(err) }));
        }
        break;
      case 'mark':
        published = 0;
        delivered = 0;
        histogram = new LatencyHistogram();
        markedAt = now();
        cpuAtMark = process.cpuUsage();
        break;
      case 'report': {
        const cpu = process.cpuUsage(cpuAtMark);
        send({
          type: 'report',
          role: config.role,
          cpuMs: (cpu.user + cpu.system) / 1000,
          published,
          delivered,
          elapsedMs: now() - markedAt,
          histogram: histogram.counts,
        });
        break;
      }
      case 'stop':
        running = false;
        stopping = true;
        conn.destroy();
        process.exit(0);
    }
  });
  send({ type: 'ready' });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
