/**
 * Protocol-level error handling, observed over raw sockets and compared with RabbitMQ: for every
 * scenario, both brokers must answer with the same close (connection or channel) and reply code.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ByteWriter } from '../src/codec/byte-writer.js';
import { writeMethodFrame } from '../src/codec/frame-encoder.js';
import { MethodId } from '../src/codec/generated/amqp-spec.js';
import type { BrokerServer } from '../src/index.js';
import { RawClient } from './helpers/raw-client.js';
import { rabbitTarget, startBroker, type Target, uniqueName } from './helpers/targets.js';

interface Outcome {
  readonly closed: 'connection' | 'channel' | 'none';
  readonly replyCode?: number;
}

async function observe(client: RawClient, timeoutMs = 3000): Promise<Outcome> {
  try {
    await client.until(() => client.closeMethod() !== undefined || client.closed, timeoutMs, 'close');
  } catch {
    return { closed: 'none' };
  }
  const m = client.closeMethod();
  if (m?.id === MethodId.ConnectionClose) return { closed: 'connection', replyCode: m.replyCode };
  if (m?.id === MethodId.ChannelClose) return { closed: 'channel', replyCode: m.replyCode };
  return { closed: 'connection' };
}

type Scenario = (c: RawClient) => Promise<void>;

const declare = (queue: string, passive = false) =>
  ({
    id: MethodId.QueueDeclare,
    ticket: 0,
    queue,
    passive,
    durable: false,
    // Exclusive: RabbitMQ removes it with the connection (an auto-delete queue never consumed would stay).
    exclusive: true,
    autoDelete: true,
    nowait: false,
    arguments: new Map(),
  }) as const;

interface ScenarioSpec {
  readonly scenario: Scenario;
  readonly expected: Outcome;
  /** What RabbitMQ does when it differs from us (a documented deviation, see README). */
  readonly rabbitmq?: Outcome;
  readonly handshake?: Parameters<RawClient['handshake']>[0];
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

async function run(target: Target, name: string): Promise<Outcome> {
  const { scenario, handshake } = scenarios[name]!;
  const client = await RawClient.connect(target.port, target.host);
  try {
    await client.handshake(handshake);
    await scenario(client);
    return await observe(client);
  } finally {
    client.close();
  }
}

describe('protocol errors: dispatcher vs RabbitMQ', () => {
  let server: BrokerServer;
  let ours: Target;
  beforeAll(async () => {
    ({ server, target: ours } = await startBroker());
  });
  afterAll(async () => {
    await server.close();
  });

  for (const [name, { expected }] of Object.entries(scenarios)) {
    it(`${name}: dispatcher answers ${expected.closed} ${expected.replyCode}`, async () => {
      expect(await run(ours, name)).toEqual(expected);
      // The broker survives and serves a new connection.
      const c = await RawClient.connect(ours.port);
      await c.handshake();
      c.close();
    });
  }

  describe.skipIf(!inject('rabbitmqReachable'))('same scenario against RabbitMQ', () => {
    for (const [name, { expected, rabbitmq }] of Object.entries(scenarios)) {
      const theirs = rabbitmq ?? expected;
      it(`${name}: RabbitMQ answers ${theirs.closed} ${theirs.replyCode ?? '(no close method)'}`, async () => {
        expect(await run(rabbitTarget(inject('rabbitmqUrl')), name)).toEqual(theirs);
      });
    }
  });
});
