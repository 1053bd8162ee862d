/**
 * One load-generator process (forked by broker.bench.ts): a producer publishing pre-encoded messages
 * (transient or persistent) as fast as the socket takes them — or, in confirm mode, as fast as the broker
 * confirms them with at most `confirmWindow` unconfirmed — or a consumer acking every delivery (acks of
 * one socket chunk go out in one write) or every `multiAckEvery` deliveries with multiple=true (and at
 * least every MULTI_ACK_INTERVAL_MS). Every body starts with the send time (float64, ms since the epoch,
 * sub-ms precision) for latency. Talks to the parent over IPC: ready → go → mark (reset counters) → report
 * → stop; with `stopAfter`, the client also sends 'done' once that many messages are confirmed (producer)
 * or delivered (consumer).
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
  /** Producer: delivery mode 2 (persistent) instead of 1. */
  persistent: boolean;
  /** Producer: publisher confirms with at most this many unconfirmed messages; 0 = no confirms. */
  confirmWindow: number;
  /** Consumer: one ack with multiple=true per this many deliveries; 0 = one ack per delivery. */
  multiAckEvery: number;
  /** Publish (producer) or receive (consumer) this many messages, then send 'done'; 0 = until 'stop'. */
  stopAfter: number;
}

export type ParentCommand = 'go' | 'mark' | 'report' | 'stop';
export interface ClientReport {
  role: 'producer' | 'consumer';
  /** Messages published; in confirm mode, messages the broker confirmed (basic.ack). */
  published: number;
  /** Confirm mode: messages the broker nacked. */
  nacked: number;
  delivered: number;
  /** Since 'mark'; in a consumer's 'done', since its first delivery. */
  elapsedMs: number;
  /** CPU time this process used in the window, user + system, in ms. */
  cpuMs: number;
  /** Send → delivery (consumer). */
  histogram: number[];
  /** Send → confirm (producer in confirm mode). */
  confirmHistogram: number[];
}
export type ClientMessage =
  | { type: 'ready' }
  | ({ type: 'report' | 'done' } & ClientReport)
  | { type: 'error'; message: string };

const BATCH_BYTES = 32 * 1024;
const ACK_FRAME_BYTES = 21;
const MULTI_ACK_INTERVAL_MS = 5;
const now = (): number => performance.timeOrigin + performance.now();
const send = (m: ClientMessage): void => {
  process.send?.(m);
};

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as LoadClientConfig;
  const conn = await RawAmqpConnection.open(parseAmqpUrl(config.url));
  let published = 0;
  let nacked = 0;
  let delivered = 0;
  let markedAt = now();
  let cpuAtMark = process.cpuUsage();
  let histogram = new LatencyHistogram();
  let confirmHistogram = new LatencyHistogram();
  let running = false;
  let stopping = false;
  conn.onError = (err) => {
    if (stopping) return;
    send({ type: 'error', message: `${config.role}: ${err.message}` });
    process.exit(1);
  };

  const report = (type: 'report' | 'done', since: number): void => {
    const cpu = process.cpuUsage(cpuAtMark);
    send({
      type,
      role: config.role,
      cpuMs: (cpu.user + cpu.system) / 1000,
      published,
      nacked,
      delivered,
      elapsedMs: now() - since,
      histogram: histogram.counts,
      confirmHistogram: confirmHistogram.counts,
    });
  };

  if (config.role === 'consumer') {
    let tag = 0;
    let total = 0;
    let firstDeliveryAt = 0;
    let unacked = 0;
    let bodySize = 0;
    let received = 0;
    let sentAt = 0;
    let acks = Buffer.allocUnsafe(ACK_FRAME_BYTES * 256);
    let ackBytes = 0;
    const flushAcks = (): void => {
      if (ackBytes === 0) return;
      conn.socket.write(acks.subarray(0, ackBytes));
      acks = Buffer.allocUnsafe(acks.length);
      ackBytes = 0;
    };
    const ack = (upTo: number): void => {
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
      acks.writeUInt32BE(Math.floor(upTo / 2 ** 32), o + 11);
      acks.writeUInt32BE(upTo >>> 0, o + 15);
      acks[o + 19] = config.multiAckEvery > 0 ? 1 : 0; // multiple
      acks[o + 20] = 0xce;
      ackBytes += ACK_FRAME_BYTES;
      unacked = 0;
    };
    const complete = (): void => {
      delivered++;
      if (total++ === 0) firstDeliveryAt = now();
      if (sentAt > 0) histogram.record(now() - sentAt);
      if (!config.noAck && (config.multiAckEvery === 0 || ++unacked >= config.multiAckEvery)) ack(tag);
      if (total === config.stopAfter) {
        if (unacked > 0) ack(tag);
        flushAcks();
        report('done', firstDeliveryAt);
      }
    };
    if (config.multiAckEvery > 0) {
      // The rest of a multi-ack batch when deliveries pause (qos credit left, or the queue is empty).
      setInterval(() => {
        if (unacked === 0) return;
        ack(tag);
        flushAcks();
      }, MULTI_ACK_INTERVAL_MS).unref();
    }
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
    conn.afterChunk = flushAcks;
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

  // Confirm mode: publish sequence numbers from 1; sentAtBySeq[seq % window] is the send time of an
  // unconfirmed publish, NaN once confirmed. At most `window` publishes past the oldest unconfirmed one.
  const window = config.confirmWindow;
  const sentAtBySeq = new Float64Array(Math.max(1, window)).fill(Number.NaN);
  let nextSeq = 1;
  let oldestUnconfirmed = 1;
  let windowOpened: (() => void) | undefined;
  let doneSent = false;
  const settle = (seq: number, ok: boolean, t: number): void => {
    const i = seq % window;
    const at = sentAtBySeq[i]!;
    if (Number.isNaN(at)) return;
    sentAtBySeq[i] = Number.NaN;
    if (ok) {
      published++;
      confirmHistogram.record(t - at);
    } else {
      nacked++;
    }
  };
  const onConfirm = (ok: boolean, p: Buffer): void => {
    const tag = p.readUInt32BE(4) * 2 ** 32 + p.readUInt32BE(8);
    const multiple = (p[12]! & 1) === 1;
    const t = now();
    if (multiple) for (let seq = oldestUnconfirmed; seq <= tag; seq++) settle(seq, ok, t);
    else settle(tag, ok, t);
    while (oldestUnconfirmed < nextSeq && Number.isNaN(sentAtBySeq[oldestUnconfirmed % window]!))
      oldestUnconfirmed++;
    windowOpened?.();
    windowOpened = undefined;
    if (!doneSent && config.stopAfter > 0 && oldestUnconfirmed > config.stopAfter) {
      doneSent = true;
      report('done', markedAt);
    }
  };
  if (config.role === 'producer' && window > 0) {
    conn.send(CHANNEL, { id: MethodId.ConfirmSelect, nowait: false });
    await conn.expect(MethodId.ConfirmSelectOk);
    conn.onFrame = (type, channel, p) => {
      const id = type === FRAME_METHOD ? p.readUInt32BE(0) : 0;
      if (id === MethodId.BasicAck || id === MethodId.BasicNack) onConfirm(id === MethodId.BasicAck, p);
      else conn.controlFrame(type, channel, p);
    };
  }

  const body = Buffer.alloc(Math.max(8, config.bodyBytes), 0x61);
  const { bytes, bodyOffset } = encodePublish(
    config.exchange,
    config.routingKey,
    body,
    conn.frameMax,
    config.persistent ? 2 : 1,
  );
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
      let n = perBatch;
      if (config.stopAfter > 0) n = Math.min(n, config.stopAfter - sent);
      if (n <= 0) return;
      if (window > 0) {
        n = Math.min(n, window - (nextSeq - oldestUnconfirmed));
        if (n <= 0) {
          await new Promise<void>((resolve) => {
            windowOpened = resolve;
          });
          continue;
        }
      }
      sent += n;
      const batch = Buffer.allocUnsafe(bytes.length * n);
      template.copy(batch, 0, 0, batch.length);
      const t = now();
      for (let i = 0; i < n; i++) batch.writeDoubleLE(t, i * bytes.length + bodyOffset);
      if (window > 0) for (let i = 0; i < n; i++) sentAtBySeq[nextSeq++ % window] = t;
      else published += n;
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
        nacked = 0;
        delivered = 0;
        histogram = new LatencyHistogram();
        confirmHistogram = new LatencyHistogram();
        markedAt = now();
        cpuAtMark = process.cpuUsage();
        break;
      case 'report':
        report('report', markedAt);
        break;
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
