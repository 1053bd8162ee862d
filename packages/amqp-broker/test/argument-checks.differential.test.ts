/**
 * Redeclare equivalence of exchanges and queues, and consumer argument validation, driven by amqplib
 * against our broker and, when reachable, RabbitMQ: the reply codes, texts and methods must be equal.
 */
import amqp, { type ChannelModel } from 'amqplib';
import { expect } from 'vitest';
import { type ChannelCloseInfo, channelCloseOf } from './helpers/amqp-helpers.js';
import { differentialSuite } from './helpers/differential-suite.js';
import { uniqueName } from './helpers/targets.js';

interface Ctx {
  readonly conn: ChannelModel;
  readonly url: string;
}
type Scenario = (ctx: Ctx) => Promise<unknown>;

/** `info` with every occurrence of the given names in its text replaced by a label. */
function labelled(
  info: ChannelCloseInfo | undefined,
  names: Readonly<Record<string, string>>,
): ChannelCloseInfo | undefined {
  if (info?.text === undefined) return info;
  let text = info.text;
  for (const [name, label] of Object.entries(names)) text = text.split(name).join(label);
  return { ...info, text };
}

const scenarios: Record<string, Scenario> = {
  'exchange redeclare compares alternate-exchange only among the arguments': async ({ conn }) => {
    const open = () => conn.createChannel();
    const withAlt = uniqueName('alt-x');
    const plain = uniqueName('plain-x');
    const ch = await conn.createChannel();
    await ch.assertExchange(withAlt, 'direct', { autoDelete: false, alternateExchange: 'a1' });
    await ch.assertExchange(plain, 'direct', { autoDelete: false });
    const names = { [withAlt]: '<with-alt>', [plain]: '<plain>' };
    const redeclare = (name: string, args: Record<string, unknown>) =>
      channelCloseOf(open, (c) => c.assertExchange(name, 'direct', { autoDelete: false, arguments: args }));
    const result = {
      otherAlternate: labelled(await redeclare(withAlt, { 'alternate-exchange': 'a2' }), names),
      alternateDropped: labelled(await redeclare(withAlt, {}), names),
      alternateAdded: labelled(await redeclare(plain, { 'alternate-exchange': 'a1' }), names),
      sameAlternateAndUnknown: await redeclare(withAlt, { 'alternate-exchange': 'a1', 'x-foo': 'bar' }),
      unknownOnly: await redeclare(plain, { 'x-foo': 'bar', 'x-bar': 1 }),
      alternateOfAnotherType: labelled(await redeclare(withAlt, { 'alternate-exchange': 5 }), names),
    };
    await ch.deleteExchange(withAlt);
    await ch.deleteExchange(plain);
    await ch.close();
    return result;
  },

  'queue redeclare compares only the arguments RabbitMQ knows': async ({ conn }) => {
    const open = () => conn.createChannel();
    const ch = await conn.createChannel();
    const q = uniqueName('args-q');
    await ch.assertQueue(q, {
      exclusive: true,
      arguments: { 'x-foo': 'bar', 'x-message-ttl': 1000, 'x-max-length': 10 },
    });
    const names = { [q]: '<q>' };
    const redeclare = async (args: Record<string, unknown>) =>
      labelled(
        await channelCloseOf(open, (c) => c.assertQueue(q, { exclusive: true, arguments: args })),
        names,
      );
    const known = { 'x-message-ttl': 1000, 'x-max-length': 10 };
    const result = {
      unknownChanged: await redeclare({ ...known, 'x-foo': 'baz', 'x-bar': 1 }),
      unknownDropped: await redeclare(known),
      queueTypeClassic: await redeclare({ ...known, 'x-queue-type': 'classic' }),
      sameValueWiderInteger: await redeclare({ ...known, 'x-max-length': { '!': 'long', value: 10 } }),
      ttlChanged: await redeclare({ ...known, 'x-message-ttl': 2000 }),
      ttlDropped: await redeclare({ 'x-max-length': 10 }),
      lengthAdded: await redeclare({ ...known, 'x-max-length-bytes': 100 }),
      lengthAsString: await redeclare({ ...known, 'x-max-length': '10' }),
      lengthAsDouble: await redeclare({ ...known, 'x-max-length': 10.5 }),
      queueTypeQuorum: await redeclare({ ...known, 'x-queue-type': 'quorum' }),
    };
    await ch.close();
    return result;
  },

  'redeclaring with another exclusive flag is 405 RESOURCE_LOCKED': async ({ conn, url }) => {
    const open = () => conn.createChannel();
    const ch = await conn.createChannel();
    const excl = uniqueName('excl');
    const shared = uniqueName('shared');
    // amqplib declares durable unless told otherwise.
    await ch.assertQueue(excl, { exclusive: true, durable: false });
    await ch.assertQueue(shared, { exclusive: false, durable: true, autoDelete: false });
    const names = { [excl]: '<excl>', [shared]: '<shared>' };
    const declare = async (c: ChannelModel, name: string, options: amqp.Options.AssertQueue) =>
      labelled(
        await channelCloseOf(
          () => c.createChannel(),
          (x) => x.assertQueue(name, options),
        ),
        names,
      );
    const other = await amqp.connect(url);
    const result = {
      sameConnectionNotExclusive: await declare(conn, excl, { exclusive: false }),
      sameConnectionExclusive: await declare(conn, shared, { exclusive: true, autoDelete: false }),
      sameConnectionDurableToo: await declare(conn, excl, { exclusive: false, durable: true }),
      // RabbitMQ makes every exclusive queue transient, whatever the declaration says.
      exclusiveDeclaredDurable: await declare(conn, excl, { exclusive: true, durable: true }),
      sharedNotDurable: await declare(conn, shared, { exclusive: false, durable: false, autoDelete: false }),
      otherConnectionExclusive: await declare(other, excl, { exclusive: true }),
      otherConnectionNotExclusive: await declare(other, excl, { exclusive: false }),
      otherConnectionShared: await declare(other, shared, { exclusive: false, autoDelete: false }),
    };
    await other.close();
    await channelCloseOf(open, (c) => c.deleteQueue(shared));
    await ch.close();
    return result;
  },

  'consumer x-priority must be an integer': async ({ conn }) => {
    const open = () => conn.createChannel();
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const missing = uniqueName('missing');
    const names = { [q]: '<q>', [missing]: '<missing>' };
    const consume = async (queue: string, priority: unknown) =>
      labelled(
        await channelCloseOf(open, (c) =>
          c.consume(queue, () => {}, { arguments: { 'x-priority': priority } }),
        ),
        names,
      );
    const result = {
      string: await consume(q, 'high'),
      double: await consume(q, 1.5),
      bool: await consume(q, true),
      integer: await consume(q, 5),
      long: await consume(q, { '!': 'long', value: 7 }),
      negative: await consume(q, -3),
      missingQueueFirst: await consume(missing, 'high'),
    };
    await ch.close();
    return result;
  },
};

differentialSuite('argument checks: dispatcher vs RabbitMQ', scenarios, (server) => {
  expect(server.vhost()?.queueCount).toBe(0);
  expect(server.vhost()?.exchangeCount).toBe(6);
});
