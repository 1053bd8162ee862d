/**
 * A content header whose property flags announce a property without its bytes, published to a queue
 * with a message TTL and a dead-letter exchange. Such a message must never be stored: RabbitMQ closes the
 * publishing connection with 541 at once (a 0-byte body completes the content), and so must we. Before
 * the fix it was stored, and the TTL timer's dead-lettering decoded its properties and threw out of the
 * timer, ending the broker process. Our broker runs in a child process here, so the test sees whether it
 * survives; the same scenario runs against RabbitMQ when reachable.
 */
import type { ChildProcess } from 'node:child_process';
import { type ForkedChild, forkChild } from '@dispatcher/tooling/child-harness';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FieldTable } from '../src/codec/field-table.js';
import { MethodId } from '../src/codec/generated/amqp-spec.js';
import { sleep } from './helpers/amqp-helpers.js';
import { BROKER_PROCESS_SCRIPT } from './helpers/broker-child.js';
import { RawClient } from './helpers/raw-client.js';
import { exchangeDeclare, queueDeclare } from './helpers/raw-scenarios.js';
import { rabbitTarget, uniqueName } from './helpers/targets.js';

const TTL_MS = 50;

/**
 * A content header frame on channel 1: class basic, body size 0, property flags announcing content-type
 * (0x8000) but no property bytes after them.
 */
const MALFORMED_HEADER = Buffer.from('0200010000000e003c000000000000000000008000ce', 'hex');

const declareQueue = (queue: string, args: FieldTable = new Map(), passive = false) =>
  queueDeclare(queue, { passive, arguments: args });

interface Outcome {
  /** The connection.close the publisher got: [reply code, class id, method id]. */
  readonly close: readonly [number, number, number] | undefined;
  /** Ready messages after the TTL passed: the TTL queue, and the dead-letter queue. */
  readonly ttlQueue: number;
  readonly deadQueue: number;
  /** A new connection still gets through the handshake. */
  readonly acceptsConnections: boolean;
}

async function scenario(host: string, port: number): Promise<Outcome> {
  const owner = await RawClient.connect(port, host);
  await owner.handshake();
  await owner.openChannel(1);
  const dlx = uniqueName('dlx');
  const ttlQueue = uniqueName('ttl');
  const deadQueue = uniqueName('dead');
  owner.send(1, exchangeDeclare(dlx, 'fanout'));
  await owner.expectMethod(MethodId.ExchangeDeclareOk, 1);
  owner.send(
    1,
    declareQueue(
      ttlQueue,
      new Map([
        ['x-message-ttl', { type: 'int32', value: TTL_MS }],
        ['x-dead-letter-exchange', { type: 'longstr', value: Buffer.from(dlx) }],
      ]),
    ),
  );
  await owner.expectMethod(MethodId.QueueDeclareOk, 1);
  owner.send(1, declareQueue(deadQueue));
  await owner.expectMethod(MethodId.QueueDeclareOk, 1);
  owner.send(1, {
    id: MethodId.QueueBind,
    ticket: 0,
    queue: deadQueue,
    exchange: dlx,
    routingKey: '',
    nowait: false,
    arguments: new Map(),
  });
  await owner.expectMethod(MethodId.QueueBindOk, 1);
  // A well-formed message takes the same path: it must arrive in the dead-letter queue.
  owner.publish(1, '', ttlQueue, Buffer.from('fine'), { contentType: 'text/plain' });

  const publisher = await RawClient.connect(port, host);
  await publisher.handshake();
  await publisher.openChannel(1);
  publisher.send(1, {
    id: MethodId.BasicPublish,
    ticket: 0,
    exchange: '',
    routingKey: ttlQueue,
    mandatory: false,
    immediate: false,
  });
  publisher.write(MALFORMED_HEADER);
  await publisher.until(() => publisher.closeMethod() !== undefined || publisher.closed, 3000, 'close');
  const m = publisher.closeMethod();
  const close =
    m?.id === MethodId.ConnectionClose ? ([m.replyCode, m.classId, m.methodId] as const) : undefined;
  publisher.close();

  let acceptsConnections = false;
  const probe = await RawClient.connect(port, host).catch(() => undefined);
  if (probe !== undefined) {
    acceptsConnections = await probe.handshake().then(
      () => true,
      () => false,
    );
    probe.close();
  }
  const count = async (queue: string) => {
    owner.send(1, declareQueue(queue, new Map(), true));
    return (await owner.expectMethod(MethodId.QueueDeclareOk, 1)).messageCount;
  };
  // Past the TTL, once the expiry timer and dead-lettering have run: the TTL queue empty and a letter in.
  // A stored malformed message would have expired by then as well and show as a second letter.
  let ttlCount = await count(ttlQueue);
  let deadCount = await count(deadQueue);
  for (const deadline = Date.now() + 10_000; (ttlCount !== 0 || deadCount < 1) && Date.now() < deadline; ) {
    await sleep(TTL_MS);
    ttlCount = await count(ttlQueue);
    deadCount = await count(deadQueue);
  }
  const outcome = { close, ttlQueue: ttlCount, deadQueue: deadCount, acceptsConnections };
  owner.send(1, { id: MethodId.ExchangeDelete, ticket: 0, exchange: dlx, ifUnused: false, nowait: false });
  await owner.expectMethod(MethodId.ExchangeDeleteOk, 1);
  owner.close();
  return outcome;
}

const EXPECTED: Outcome = { close: [541, 0, 0], ttlQueue: 0, deadQueue: 1, acceptsConnections: true };

describe('malformed content properties on a TTL + dead-letter queue', () => {
  let forked: ForkedChild<{ port: number }>;
  let child: ChildProcess;
  let port: number;
  beforeAll(async () => {
    forked = await forkChild<{ port: number }>(BROKER_PROCESS_SCRIPT);
    child = forked.child;
    port = forked.ready.port;
  });
  afterAll(async () => {
    await forked.stop(5000);
  });

  it('dispatcher: closes the publisher with 541, stores nothing, and the process survives', async () => {
    expect(await scenario('127.0.0.1', port)).toEqual(EXPECTED);
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
  });

  it.skipIf(!inject('rabbitmqReachable'))('RabbitMQ answers the same', async () => {
    const rabbit = rabbitTarget(inject('rabbitmqUrl'));
    expect(await scenario(rabbit.host, rabbit.port)).toEqual(EXPECTED);
  });
});
