/**
 * Connection and channel behaviour over raw sockets against the in-process broker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteWriter } from '../src/codec/byte-writer.js';
import { fieldBoolean, str, writeFieldValue } from '../src/codec/field-table.js';
import { writeHeaderFrame, writeMethodFrame } from '../src/codec/frame-encoder.js';
import { FRAME_BODY, FRAME_HEARTBEAT, MethodId } from '../src/codec/generated/amqp-spec.js';
import type { BrokerServer } from '../src/index.js';
import { PROTOCOL_HEADER, RawClient } from './helpers/raw-client.js';
import { startBroker } from './helpers/targets.js';

let server: BrokerServer;
let port: number;

beforeAll(async () => {
  ({ server } = await startBroker({ heartbeatSeconds: 30, users: { guest: 'guest', alice: 'pw' } }));
  port = server.port;
});
afterAll(async () => {
  await server.close();
});

const declare = (queue: string) =>
  ({
    id: MethodId.QueueDeclare,
    ticket: 0,
    queue,
    passive: false,
    durable: false,
    exclusive: true,
    autoDelete: false,
    nowait: false,
    arguments: new Map(),
  }) as const;

describe('protocol header', () => {
  for (const [label, header] of [
    ['AMQP 0-9-2', Buffer.from('AMQP\x00\x00\x09\x02', 'latin1')],
    ['AMQP 1.0', Buffer.from('AMQP\x00\x01\x00\x00', 'latin1')],
    ['HTTP', Buffer.from('GET / HTTP/1.1\r\n\r\n', 'latin1')],
  ] as const) {
    it(`answers ${label} with the 0-9-1 header and closes`, async () => {
      const c = await RawClient.connect(port);
      c.write(header);
      await c.until(() => c.closed, 3000, 'close');
      expect(c.raw).toEqual(PROTOCOL_HEADER);
    });
  }

  it('accepts the header split across writes', async () => {
    const c = await RawClient.connect(port);
    c.parseFrames();
    c.write(PROTOCOL_HEADER.subarray(0, 3));
    await new Promise((r) => setTimeout(r, 20));
    c.write(PROTOCOL_HEADER.subarray(3));
    const start = await c.expectMethod(MethodId.ConnectionStart, 0);
    expect(start.mechanisms.toString()).toBe('PLAIN AMQPLAIN');
    const text = (key: string) => {
      const v = start.serverProperties.get(key);
      return v !== undefined && 'value' in v ? String(v.value) : undefined;
    };
    // RabbitMQ's product name for clients that check it; our identity in `information`.
    expect(text('product')).toBe('RabbitMQ');
    expect(text('information')).toMatch(/^Dispatcher amqp-broker \S+ \(RabbitMQ-compatible AMQP 0-9-1\)$/);
    const caps = start.serverProperties.get('capabilities');
    expect(caps?.type).toBe('table');
    if (caps?.type === 'table') {
      expect(fieldBoolean(caps.value.get('publisher_confirms'))).toBe(true);
      expect(fieldBoolean(caps.value.get('basic.nack'))).toBe(true);
      expect(fieldBoolean(caps.value.get('consumer_cancel_notify'))).toBe(true);
      expect(fieldBoolean(caps.value.get('per_consumer_qos'))).toBe(true);
    }
    c.close();
  });
});

describe('authentication and tuning', () => {
  async function login(mechanism: string, response: Buffer): Promise<RawClient> {
    const c = await RawClient.connect(port);
    c.parseFrames();
    c.write(PROTOCOL_HEADER);
    await c.expectMethod(MethodId.ConnectionStart, 0);
    c.send(0, {
      id: MethodId.ConnectionStartOk,
      clientProperties: new Map([
        [
          'capabilities',
          {
            type: 'table',
            value: new Map([['authentication_failure_close', { type: 'bool', value: true }]]),
          },
        ],
      ]),
      mechanism,
      response,
      locale: 'en_US',
    });
    return c;
  }

  it('logs in with AMQPLAIN', async () => {
    const w = new ByteWriter(64);
    w.shortStr('LOGIN');
    writeFieldValue(w, str('alice'));
    w.shortStr('PASSWORD');
    writeFieldValue(w, str('pw'));
    const c = await login('AMQPLAIN', w.toBuffer());
    const tune = await c.expectMethod(MethodId.ConnectionTune, 0);
    expect(tune).toMatchObject({ channelMax: 2047, frameMax: 131072, heartbeat: 30 });
    c.close();
  });

  it('refuses a wrong password with connection.close 403', async () => {
    const c = await login('PLAIN', Buffer.from('\0guest\0nope'));
    const close = await c.expectMethod(MethodId.ConnectionClose, 0);
    expect(close.replyCode).toBe(403);
    expect(close.replyText).toContain('ACCESS_REFUSED');
    c.close();
  });

  it('refuses an unknown vhost with 530', async () => {
    const c = await RawClient.connect(port);
    await expect(c.handshake({ vhost: '/nope' })).rejects.toThrow();
    const close = c.closeMethod();
    expect(close?.id === MethodId.ConnectionClose && close.replyCode).toBe(530);
    c.close();
  });

  it('refuses frame_max below 4096 with 530', async () => {
    const c = await RawClient.connect(port);
    await expect(c.handshake({ frameMax: 1000 })).rejects.toThrow();
    const close = c.closeMethod();
    expect(close?.id === MethodId.ConnectionClose && close.replyCode).toBe(530);
    c.close();
  });

  it('refuses channels above the negotiated channel_max with 530', async () => {
    const c = await RawClient.connect(port);
    await c.handshake({ channelMax: 10 });
    await c.openChannel(10);
    c.send(11, { id: MethodId.ChannelOpen, outOfBand: '' });
    const close = await c.expectMethod(MethodId.ConnectionClose, 0);
    expect(close.replyCode).toBe(530);
    c.close();
  });
});

describe('heartbeats', () => {
  it('sends heartbeats when idle and closes a silent client after two intervals', async () => {
    const c = await RawClient.connect(port);
    await c.handshake({ heartbeat: 1 });
    const started = Date.now();
    await c.until(() => c.frames.some((f) => f.type === FRAME_HEARTBEAT), 3000, 'heartbeat');
    // We never send anything: the broker must give up after ~2 s.
    await c.until(() => c.closed, 5000, 'close on missed heartbeats');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });

  it('keeps a connection alive while the client sends heartbeats', async () => {
    const c = await RawClient.connect(port);
    await c.handshake({ heartbeat: 1 });
    const timer = setInterval(() => c.write(Buffer.from('08000000000000ce', 'hex')), 400);
    // Three of the broker's own heartbeats (one per idle second): past the two intervals it would wait.
    await c.until(() => c.frames.filter((f) => f.type === FRAME_HEARTBEAT).length >= 3, 10_000, 'heartbeats');
    clearInterval(timer);
    expect(c.closed).toBe(false);
    c.close();
  });

  it('counts any octet from the client as activity, not only heartbeat frames', async () => {
    const c = await RawClient.connect(port);
    await c.handshake({ heartbeat: 1 });
    await c.openChannel(1);
    // Method frames only, never a heartbeat frame, for three intervals.
    const timer = setInterval(
      () => c.send(1, { id: MethodId.BasicQos, prefetchSize: 0, prefetchCount: 10, global: false }),
      400,
    );
    // Eight answers, 400 ms apart: past the two intervals the broker would wait for a silent client.
    const answers = () => c.frames.filter((f) => f.method?.id === MethodId.BasicQosOk).length;
    await c.until(() => answers() >= 8 || c.closed, 10_000, 'qos-ok answers');
    clearInterval(timer);
    expect(c.closed).toBe(false);
    expect(answers()).toBeGreaterThanOrEqual(8);
    c.close();
  });
});

describe('content', () => {
  it('re-frames outbound bodies to the client frame_max and delivers 0-byte bodies', async () => {
    const c = await RawClient.connect(port);
    await c.handshake({ frameMax: 4096 });
    await c.openChannel(1);
    c.send(1, declare(''));
    const { queue } = await c.expectMethod(MethodId.QueueDeclareOk, 1);
    const body = Buffer.alloc(10_000, 9);
    c.publish(1, '', queue, body, {}, 4096);
    c.publish(1, '', queue, Buffer.alloc(0));
    c.send(1, { id: MethodId.BasicGet, ticket: 0, queue, noAck: true });
    await c.expectMethod(MethodId.BasicGetOk, 1);
    await c.until(() => c.frames.filter((f) => f.type === FRAME_BODY).length === 3, 3000, 'body frames');
    const bodies = c.frames.filter((f) => f.type === FRAME_BODY);
    expect(bodies.map((f) => f.payload.length)).toEqual([4088, 4088, 1824]);
    c.frames.length = 0;
    c.send(1, { id: MethodId.BasicGet, ticket: 0, queue, noAck: true });
    const second = await c.expectMethod(MethodId.BasicGetOk, 1);
    expect(second.messageCount).toBe(0);
    c.send(1, { id: MethodId.BasicGet, ticket: 0, queue, noAck: true });
    await c.expectMethod(MethodId.BasicGetEmpty, 1);
    expect(c.frames.filter((f) => f.type === FRAME_BODY)).toHaveLength(0);
    c.close();
  });

  it('allocates a body as its bytes arrive, not from the size its header announces', async () => {
    const c = await RawClient.connect(port);
    await c.handshake();
    const channels = 8;
    const announced = 64 * 2 ** 20;
    const before = process.memoryUsage().arrayBuffers;
    for (let ch = 1; ch <= channels; ch++) {
      await c.openChannel(ch);
      const w = new ByteWriter(256);
      writeMethodFrame(w, ch, {
        id: MethodId.BasicPublish,
        ticket: 0,
        exchange: '',
        routingKey: 'nowhere',
        mandatory: false,
        immediate: false,
      });
      writeHeaderFrame(w, ch, 60, announced, {});
      c.write(w.toBuffer());
    }
    // Frames are handled in order: once this channel is open, every header above has been seen.
    await c.openChannel(channels + 1);
    const grown = process.memoryUsage().arrayBuffers - before;
    // Up front, that would have been channels × 64 MiB = 512 MiB.
    expect(grown).toBeLessThan(32 * 2 ** 20);
    // And a body still assembles across frames.
    c.send(channels + 1, declare(''));
    const { queue } = await c.expectMethod(MethodId.QueueDeclareOk, channels + 1);
    const body = Buffer.from(Array.from({ length: 20_000 }, (_, i) => i % 251));
    c.publish(channels + 1, '', queue, body, {}, 3000);
    c.send(channels + 1, { id: MethodId.BasicGet, ticket: 0, queue, noAck: true });
    await c.expectMethod(MethodId.BasicGetOk, channels + 1);
    await c.until(
      () =>
        c.frames.filter((f) => f.type === FRAME_BODY).reduce((n, f) => n + f.payload.length, 0) ===
        body.length,
      3000,
      'body',
    );
    const got = Buffer.concat(c.frames.filter((f) => f.type === FRAME_BODY).map((f) => f.payload));
    expect(got.equals(body)).toBe(true);
    c.close();
  });

  it('closes the channel (406) for a message over maxMessageBytes, keeping the connection', async () => {
    const { server: small } = await startBroker({ maxMessageBytes: 100 });
    try {
      const c = await RawClient.connect(small.port);
      await c.handshake();
      await c.openChannel(1);
      c.publish(1, '', 'q', Buffer.alloc(101));
      const close = await c.expectMethod(MethodId.ChannelClose, 1);
      expect(close.replyCode).toBe(406);
      c.send(1, { id: MethodId.ChannelCloseOk });
      await c.openChannel(1);
      c.close();
    } finally {
      await small.close();
    }
  });
});

describe('transactions and flow', () => {
  it('publishes and acks only on tx.commit; rollback discards', async () => {
    const c = await RawClient.connect(port);
    await c.handshake();
    await c.openChannel(1);
    c.send(1, declare(''));
    const { queue } = await c.expectMethod(MethodId.QueueDeclareOk, 1);
    c.send(1, { id: MethodId.TxSelect });
    await c.expectMethod(MethodId.TxSelectOk, 1);
    c.publish(1, '', queue, Buffer.from('a'));
    c.send(1, declare(queue));
    expect((await c.expectMethod(MethodId.QueueDeclareOk, 1)).messageCount).toBe(0);
    c.send(1, { id: MethodId.TxCommit });
    await c.expectMethod(MethodId.TxCommitOk, 1);
    c.publish(1, '', queue, Buffer.from('b'));
    c.send(1, { id: MethodId.TxRollback });
    await c.expectMethod(MethodId.TxRollbackOk, 1);
    c.send(1, declare(queue));
    expect((await c.expectMethod(MethodId.QueueDeclareOk, 1)).messageCount).toBe(1);
    c.close();
  });

  it('answers channel.flow(active=true); active=false closes the connection with 540 as RabbitMQ does', async () => {
    const c = await RawClient.connect(port);
    await c.handshake();
    await c.openChannel(1);
    c.send(1, { id: MethodId.ChannelFlow, active: true });
    expect((await c.expectMethod(MethodId.ChannelFlowOk, 1)).active).toBe(true);
    c.send(1, { id: MethodId.ChannelFlow, active: false });
    const close = await c.expectMethod(MethodId.ConnectionClose, 0);
    expect(close).toMatchObject({
      replyCode: 540,
      replyText: 'NOT_IMPLEMENTED - active=false',
      classId: 20,
      methodId: 20,
    });
    c.close();
  });

  it('sends basic.cancel to consumers of a deleted queue', async () => {
    const c = await RawClient.connect(port);
    await c.handshake();
    await c.openChannel(1);
    await c.openChannel(2);
    c.send(1, declare(''));
    const { queue } = await c.expectMethod(MethodId.QueueDeclareOk, 1);
    c.send(1, {
      id: MethodId.BasicConsume,
      ticket: 0,
      queue,
      consumerTag: 'gone',
      noLocal: false,
      noAck: false,
      exclusive: false,
      nowait: false,
      arguments: new Map(),
    });
    await c.expectMethod(MethodId.BasicConsumeOk, 1);
    c.send(2, { id: MethodId.QueueDelete, ticket: 0, queue, ifUnused: false, ifEmpty: false, nowait: false });
    await c.expectMethod(MethodId.QueueDeleteOk, 2);
    expect((await c.expectMethod(MethodId.BasicCancel, 1)).consumerTag).toBe('gone');
    c.close();
  });
});

describe('shutdown', () => {
  it('close() sends connection.close 320 to clients and waits for close-ok', async () => {
    const { server: s } = await startBroker();
    const c = await RawClient.connect(s.port);
    await c.handshake();
    const closing = s.close();
    const close = await c.expectMethod(MethodId.ConnectionClose, 0);
    expect(close.replyCode).toBe(320);
    c.send(0, { id: MethodId.ConnectionCloseOk });
    await closing;
    await c.until(() => c.closed, 3000, 'socket closed');
    expect(s.state).toBe('closed');
    expect(s.connectionCount).toBe(0);
  });
});
