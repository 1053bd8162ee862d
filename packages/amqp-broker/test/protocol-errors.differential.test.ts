/**
 * Protocol-level error handling, observed over raw sockets and compared with RabbitMQ: for every
 * scenario, both brokers must answer with the same close (connection or channel) and reply code (but for
 * the documented deviations), and still serve a new connection afterwards.
 */
import { expect } from 'vitest';
import { ByteWriter } from '../src/codec/byte-writer.js';
import { writeMethodFrame } from '../src/codec/frame-encoder.js';
import { MethodId } from '../src/codec/generated/amqp-spec.js';
import { type DifferentialScenario, differentialSuite } from './helpers/differential-suite.js';
import { RawClient } from './helpers/raw-client.js';
import { queueDeclare } from './helpers/raw-scenarios.js';
import { uniqueName } from './helpers/targets.js';

interface Outcome {
  readonly closed: 'connection' | 'channel' | 'none';
  readonly replyCode?: number;
  /** Class and method ids of the close (compared only for scenarios that name them). */
  readonly method?: readonly [number, number];
}

async function observe(client: RawClient, withMethod: boolean, timeoutMs = 3000): Promise<Outcome> {
  try {
    await client.until(() => client.closeMethod() !== undefined || client.closed, timeoutMs, 'close');
  } catch {
    return { closed: 'none' };
  }
  const m = client.closeMethod();
  if (m?.id !== MethodId.ConnectionClose && m?.id !== MethodId.ChannelClose) return { closed: 'connection' };
  const closed = m.id === MethodId.ConnectionClose ? 'connection' : 'channel';
  return withMethod
    ? { closed, replyCode: m.replyCode, method: [m.classId, m.methodId] }
    : { closed, replyCode: m.replyCode };
}

/** A content header frame for class `classId` with `properties` (flags included) taken as given. */
function rawHeaderFrame(channel: number, classId: number, bodySize: number, properties: string): Buffer {
  const props = Buffer.from(properties, 'hex');
  const frame = Buffer.alloc(8 + 12 + props.length);
  frame[0] = 2;
  frame.writeUInt16BE(channel, 1);
  frame.writeUInt32BE(12 + props.length, 3);
  frame.writeUInt16BE(classId, 7);
  frame.writeUInt32BE(Math.floor(bodySize / 2 ** 32), 11);
  frame.writeUInt32BE(bodySize % 2 ** 32, 15);
  props.copy(frame, 19);
  frame[frame.length - 1] = 0xce;
  return frame;
}

const publishMethod = {
  id: MethodId.BasicPublish,
  ticket: 0,
  exchange: '',
  routingKey: 'dsp-test-nowhere',
  mandatory: false,
  immediate: false,
} as const;

type Scenario = (c: RawClient) => Promise<void>;

const declare = (queue: string, passive = false) => queueDeclare(queue, { passive, autoDelete: true });

interface ScenarioSpec {
  readonly scenario: Scenario;
  readonly expected: Outcome;
  /** What RabbitMQ does when it differs from us (a documented deviation, see README). */
  readonly rabbitmq?: Outcome;
  readonly handshake?: Parameters<RawClient['handshake']>[0];
  /** Compare the close's class and method ids too. */
  readonly method?: boolean;
}

const scenarios: Record<string, ScenarioSpec> = {
  'bad frame-end octet': {
    expected: { closed: 'connection', replyCode: 501 },
    scenario: async (c) => {
      const w = new ByteWriter(64);
      writeMethodFrame(w, 1, { id: MethodId.ChannelOpen, outOfBand: '' });
      const bytes = w.toBuffer();
      bytes[bytes.length - 1] = 0;
      c.write(bytes);
    },
  },
  'unknown class and method': {
    expected: { closed: 'connection', replyCode: 540 },
    // RabbitMQ 3.10 drops the socket without a connection.close; we tell the client why.
    rabbitmq: { closed: 'connection' },
    scenario: async (c) => {
      c.write(Buffer.from('010001000000040063000ace', 'hex'));
    },
  },
  'method on a channel that is not open': {
    expected: { closed: 'connection', replyCode: 504 },
    scenario: async (c) => {
      c.send(5, { id: MethodId.BasicQos, prefetchSize: 0, prefetchCount: 1, global: false });
    },
  },
  'second channel.open': {
    expected: { closed: 'connection', replyCode: 504 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, { id: MethodId.ChannelOpen, outOfBand: '' });
    },
  },
  'content header on a channel never opened': {
    expected: { closed: 'connection', replyCode: 505, method: [0, 0] },
    method: true,
    scenario: async (c) => {
      c.write(rawHeaderFrame(5, 60, 0, '0000'));
    },
  },
  'body frame on a channel never opened': {
    expected: { closed: 'connection', replyCode: 505, method: [0, 0] },
    method: true,
    scenario: async (c) => {
      c.write(Buffer.from('03000500000002abcdce', 'hex'));
    },
  },
  'content header for another class': {
    expected: { closed: 'connection', replyCode: 505, method: [60, 40] },
    method: true,
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, publishMethod);
      c.write(rawHeaderFrame(1, 50, 0, '0000'));
    },
  },
  // Property flags announcing a property whose bytes are missing: RabbitMQ fails decoding the properties
  // (541, no method named) once the content is complete.
  'content properties shorter than their flags announce': {
    expected: { closed: 'connection', replyCode: 541, method: [0, 0] },
    method: true,
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, publishMethod);
      c.write(rawHeaderFrame(1, 60, 0, '8000'));
    },
  },
  'content properties with bytes after the last property': {
    expected: { closed: 'connection', replyCode: 541, method: [0, 0] },
    method: true,
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, publishMethod);
      c.write(rawHeaderFrame(1, 60, 0, '80000161010203'));
    },
  },
  'content properties with a header table of an unknown field type': {
    expected: { closed: 'connection', replyCode: 541, method: [0, 0] },
    method: true,
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, publishMethod);
      c.write(rawHeaderFrame(1, 60, 0, '20000000000401615a00'));
    },
  },
  'malformed content properties are refused once the body has arrived': {
    expected: { closed: 'connection', replyCode: 541, method: [0, 0] },
    method: true,
    scenario: async (c) => {
      await c.openChannel(1);
      await c.openChannel(2);
      c.send(1, publishMethod);
      c.write(rawHeaderFrame(1, 60, 1, '8000'));
      // Nothing yet: the content is not complete. A round trip on another channel, after the header, is
      // answered (and nothing closed).
      c.send(2, { id: MethodId.BasicQos, prefetchSize: 0, prefetchCount: 1, global: false });
      await c.expectMethod(MethodId.BasicQosOk, 2);
      if (c.closeMethod() !== undefined) throw new Error('closed before the body arrived');
      c.write(Buffer.from('03000100000001abce', 'hex'));
    },
  },
  'a publish to a missing exchange with malformed properties is a 404 first': {
    expected: { closed: 'channel', replyCode: 404, method: [60, 40] },
    method: true,
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, { ...publishMethod, exchange: uniqueName('nowhere') });
      c.write(rawHeaderFrame(1, 60, 0, '8000'));
    },
  },
  'basic.recover with requeue=false': {
    expected: { closed: 'connection', replyCode: 540, method: [60, 110] },
    method: true,
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, { id: MethodId.BasicRecover, requeue: false });
    },
  },
  'basic.recover-async with requeue=false': {
    expected: { closed: 'connection', replyCode: 540, method: [60, 100] },
    method: true,
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, { id: MethodId.BasicRecoverAsync, requeue: false });
    },
  },
  'channel.flow active=false': {
    expected: { closed: 'connection', replyCode: 540, method: [20, 20] },
    method: true,
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, { id: MethodId.ChannelFlow, active: false });
    },
  },
  'ack of an unknown delivery tag inside a transaction fails at the ack': {
    expected: { closed: 'channel', replyCode: 406, method: [60, 80] },
    method: true,
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, { id: MethodId.TxSelect });
      await c.expectMethod(MethodId.TxSelectOk, 1);
      c.send(1, { id: MethodId.BasicAck, deliveryTag: 42, multiple: false });
    },
  },
  'reject of an unknown delivery tag inside a transaction fails at the reject': {
    expected: { closed: 'channel', replyCode: 406, method: [60, 90] },
    method: true,
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, { id: MethodId.TxSelect });
      await c.expectMethod(MethodId.TxSelectOk, 1);
      c.send(1, { id: MethodId.BasicReject, deliveryTag: 7, requeue: false });
    },
  },
  'body frame without a publish': {
    expected: { closed: 'connection', replyCode: 505 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.write(Buffer.from('03000100000002abcdce', 'hex'));
    },
  },
  'method while a content header is expected': {
    expected: { closed: 'connection', replyCode: 505 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, {
        id: MethodId.BasicPublish,
        ticket: 0,
        exchange: '',
        routingKey: 'x',
        mandatory: false,
        immediate: false,
      });
      c.send(1, { id: MethodId.BasicQos, prefetchSize: 0, prefetchCount: 1, global: false });
    },
  },
  'heartbeat on a non-zero channel': {
    expected: { closed: 'connection', replyCode: 505 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.write(Buffer.from('08000100000000ce', 'hex'));
    },
  },
  'frame larger than frame_max': {
    expected: { closed: 'connection', replyCode: 501 },
    handshake: { frameMax: 4096 },
    scenario: async (c) => {
      await c.openChannel(1);
      const big = Buffer.alloc(5000 + 8);
      big[0] = 3;
      big.writeUInt16BE(1, 1);
      big.writeUInt32BE(5000, 3);
      big[big.length - 1] = 0xce;
      c.write(big);
    },
  },
  'passive declare of a missing queue': {
    expected: { closed: 'channel', replyCode: 404 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, declare(uniqueName('missing'), true));
    },
  },
  'queue name with the reserved amq. prefix': {
    expected: { closed: 'channel', replyCode: 403 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, declare('amq.dsp-reserved'));
    },
  },
  'unknown exchange type': {
    expected: { closed: 'connection', replyCode: 503 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, {
        id: MethodId.ExchangeDeclare,
        ticket: 0,
        exchange: uniqueName('ex'),
        type: 'no-such-type',
        passive: false,
        durable: false,
        autoDelete: true,
        internal: false,
        nowait: false,
        arguments: new Map(),
      });
    },
  },
  'redeclare amq.direct as fanout': {
    expected: { closed: 'channel', replyCode: 406 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, {
        id: MethodId.ExchangeDeclare,
        ticket: 0,
        exchange: 'amq.direct',
        type: 'fanout',
        passive: false,
        durable: true,
        autoDelete: false,
        internal: false,
        nowait: false,
        arguments: new Map(),
      });
    },
  },
  'ack of an unknown delivery tag': {
    expected: { closed: 'channel', replyCode: 406 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, { id: MethodId.BasicAck, deliveryTag: 42, multiple: false });
    },
  },
  'publish to a missing exchange': {
    expected: { closed: 'channel', replyCode: 404 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.publish(1, uniqueName('nowhere'), 'k', Buffer.from('x'));
    },
  },
  'basic.qos with prefetch_size': {
    expected: { closed: 'connection', replyCode: 540 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, { id: MethodId.BasicQos, prefetchSize: 10, prefetchCount: 1, global: false });
    },
  },
  'publish with immediate=true': {
    expected: { closed: 'connection', replyCode: 540 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, {
        id: MethodId.BasicPublish,
        ticket: 0,
        exchange: '',
        routingKey: 'x',
        mandatory: false,
        immediate: true,
      });
      c.write(Buffer.from('020001000000' + '0e' + '003c0000000000000000000000' + '00ce', 'hex'));
    },
  },
  'truncated method arguments': {
    expected: { closed: 'connection', replyCode: 501 },
    scenario: async (c) => {
      await c.openChannel(1);
      // queue.declare with only the ticket.
      c.write(Buffer.from('0100010000000600320010000ace'.replace('00320010000a', '0032000a0000'), 'hex'));
    },
  },
  'bind to the default exchange': {
    expected: { closed: 'channel', replyCode: 403 },
    scenario: async (c) => {
      await c.openChannel(1);
      const q = uniqueName('q');
      c.send(1, declare(q));
      await c.expectMethod(MethodId.QueueDeclareOk, 1);
      c.send(1, {
        id: MethodId.QueueBind,
        ticket: 0,
        queue: q,
        exchange: '',
        routingKey: 'k',
        nowait: false,
        arguments: new Map(),
      });
    },
  },
  'consumer tag reuse': {
    expected: { closed: 'connection', replyCode: 530 },
    scenario: async (c) => {
      await c.openChannel(1);
      const q = uniqueName('q');
      c.send(1, declare(q));
      await c.expectMethod(MethodId.QueueDeclareOk, 1);
      const consume = {
        id: MethodId.BasicConsume,
        ticket: 0,
        queue: q,
        consumerTag: 'same',
        noLocal: false,
        noAck: false,
        exclusive: false,
        nowait: false,
        arguments: new Map(),
      } as const;
      c.send(1, consume);
      await c.expectMethod(MethodId.BasicConsumeOk, 1);
      c.send(1, consume);
    },
  },
  'confirm.select on a transactional channel': {
    expected: { closed: 'channel', replyCode: 406 },
    scenario: async (c) => {
      await c.openChannel(1);
      c.send(1, { id: MethodId.TxSelect });
      await c.expectMethod(MethodId.TxSelectOk, 1);
      c.send(1, { id: MethodId.ConfirmSelect, nowait: false });
    },
  },
};

/** Runs the scenario on a raw connection, then checks that the broker still serves a new one. */
function differential(spec: ScenarioSpec): DifferentialScenario {
  return async ({ url }) => {
    const u = new URL(url);
    const [port, host] = [Number(u.port), u.hostname];
    const client = await RawClient.connect(port, host);
    let outcome: Outcome;
    try {
      await client.handshake(spec.handshake);
      await spec.scenario(client);
      outcome = await observe(client, spec.method === true);
    } finally {
      client.close();
    }
    const next = await RawClient.connect(port, host);
    try {
      await next.handshake();
    } finally {
      next.close();
    }
    return outcome;
  };
}

const only = <T>(pick: (spec: ScenarioSpec) => T | undefined): Record<string, T> =>
  Object.fromEntries(
    Object.entries(scenarios).flatMap(([name, spec]) => {
      const value = pick(spec);
      return value === undefined ? [] : [[name, value]];
    }),
  );

differentialSuite(
  'protocol errors: dispatcher vs RabbitMQ',
  only(differential),
  (server) => {
    expect(server.connections()).toEqual([]);
  },
  {
    concurrent: false,
    expected: only((spec) => spec.expected),
    rabbitmqDiffers: only((spec) => spec.rabbitmq),
  },
);
