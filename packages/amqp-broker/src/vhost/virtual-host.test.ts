import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../codec/byte-writer.js';
import { type FieldValue, fieldString, str } from '../codec/field-table.js';
import { type BasicProperties, encodeBasicProperties } from '../codec/generated/amqp-spec.js';
import { AmqpError } from '../errors.js';
import { Message } from '../queue/message.js';
import { type PublishOutcome, VirtualHost } from './virtual-host.js';

const owner = {};
const other = {};
const q = (name: string, extra: Partial<Parameters<VirtualHost['declareQueue']>[0]> = {}) => ({
  name,
  passive: false,
  durable: false,
  exclusive: false,
  autoDelete: false,
  arguments: new Map(),
  ...extra,
});
function code(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    if (AmqpError.isAmqpError(err)) return err.replyCode;
    throw err;
  }
  return undefined;
}

describe('VirtualHost', () => {
  it('has the default and amq.* exchanges', () => {
    const v = new VirtualHost('/');
    for (const name of ['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']) {
      expect(v.getExchange(name)).toBeDefined();
    }
  });

  it('server-names queues and reports counts', () => {
    const v = new VirtualHost('/');
    const r = v.declareQueue(q(''), owner);
    expect(r.name).toMatch(/^amq\.gen-[A-Za-z0-9_-]{22}$/);
    v.publish('', r.name, new Message('', r.name, Buffer.from([0, 0]), Buffer.alloc(0)));
    expect(v.declareQueue(q(r.name), owner).messageCount).toBe(1);
  });

  it('enforces exclusivity (405), equivalence (406), passive (404) and argument validity (406)', () => {
    const v = new VirtualHost('/');
    v.declareQueue(q('ex', { exclusive: true }), owner);
    expect(code(() => v.declareQueue(q('ex', { exclusive: true }), other))).toBe(405);
    // Exclusive queues are transient whatever the declaration says (RabbitMQ); the exclusive flag must match.
    expect(code(() => v.declareQueue(q('ex', { exclusive: true, durable: true }), owner))).toBeUndefined();
    expect(code(() => v.declareQueue(q('ex', { exclusive: false }), owner))).toBe(405);
    v.declareQueue(q('shared'), owner);
    expect(code(() => v.declareQueue(q('shared', { durable: true }), owner))).toBe(406);
    expect(code(() => v.declareQueue(q('shared', { exclusive: true }), owner))).toBe(405);
    expect(code(() => v.declareQueue(q('missing', { passive: true }), owner))).toBe(404);
    expect(
      code(() =>
        v.declareQueue(
          q('bad', { arguments: new Map([['x-message-ttl', { type: 'int32', value: -1 }]]) }),
          owner,
        ),
      ),
    ).toBe(406);
    v.releaseOwner(owner);
    expect(v.getQueueIfExists('ex')).toBeUndefined();
  });

  it('deletes auto-delete exchanges with their last binding', () => {
    const v = new VirtualHost('/');
    v.declareExchange({
      name: 'ad',
      type: 'fanout',
      passive: false,
      durable: false,
      autoDelete: true,
      internal: false,
      arguments: new Map(),
    });
    v.declareQueue(q('b'), owner);
    v.bindQueue('b', 'ad', '', new Map(), owner);
    v.unbindQueue('b', 'ad', '', new Map(), owner);
    expect(v.getExchange('ad')).toBeUndefined();
  });

  it('refuses to publish to internal exchanges (403) and missing ones (404)', () => {
    const v = new VirtualHost('/');
    v.declareExchange({
      name: 'in',
      type: 'direct',
      passive: false,
      durable: false,
      autoDelete: false,
      internal: true,
      arguments: new Map(),
    });
    const m = new Message('in', 'k', Buffer.from([0, 0]), Buffer.alloc(0));
    expect(code(() => v.publish('in', 'k', m))).toBe(403);
    expect(code(() => v.publish('nope', 'k', m))).toBe(404);
  });

  const x = (
    name: string,
    type: string,
    extra: Partial<Parameters<VirtualHost['declareExchange']>[0]> = {},
  ) => ({
    name,
    type,
    passive: false,
    durable: false,
    autoDelete: false,
    internal: false,
    arguments: new Map(),
    ...extra,
  });
  function message(exchange: string, rk: string, body: string, props: BasicProperties = {}): Message {
    const w = new ByteWriter(64);
    encodeBasicProperties(w, props);
    return new Message(exchange, rk, w.toBuffer(), Buffer.from(body));
  }
  const bodies = (v: VirtualHost, queue: string) => {
    const out: string[] = [];
    const q = v.getQueue(queue, owner);
    for (let e = q.shift(); e !== undefined; e = q.shift()) out.push(e.message.body.toString());
    return out;
  };

  it('routes through exchange-to-exchange bindings once per queue, cycles included', () => {
    const v = new VirtualHost('/');
    v.declareExchange(x('src', 'topic'));
    v.declareExchange(x('dst', 'fanout'));
    v.declareExchange(x('internal', 'fanout', { internal: true }));
    v.declareQueue(q('qd'), owner);
    v.declareQueue(q('qs'), owner);
    v.bindQueue('qd', 'internal', '', new Map(), owner);
    v.bindQueue('qs', 'src', 'a.#', new Map(), owner);
    v.bindExchange('dst', 'src', 'a.*', new Map());
    v.bindExchange('internal', 'dst', '', new Map());
    v.bindExchange('src', 'internal', 'ignored', new Map()); // cycle back to src
    expect(v.publish('src', 'a.b', message('src', 'a.b', 'm'))).toBe(2);
    expect(bodies(v, 'qd')).toEqual(['m']);
    expect(bodies(v, 'qs')).toEqual(['m']);
    v.unbindExchange('dst', 'src', 'a.*', new Map());
    expect(v.publish('src', 'a.b', message('src', 'a.b', 'm'))).toBe(1);
    expect(code(() => v.bindExchange('nope', 'src', '', new Map()))).toBe(404);
    expect(code(() => v.bindExchange('dst', '', '', new Map()))).toBe(403);
    // Deleting a destination exchange removes the bindings to it.
    v.deleteExchange('internal', false);
    expect(v.getExchange('dst')!.bindingCount).toBe(0);
  });

  it('auto-delete source exchanges go with their last exchange binding', () => {
    const v = new VirtualHost('/');
    v.declareExchange(x('ad', 'direct', { autoDelete: true }));
    v.declareExchange(x('dst', 'fanout'));
    v.bindExchange('dst', 'ad', 'k', new Map());
    v.deleteExchange('dst', false);
    expect(v.getExchange('ad')).toBeUndefined();
  });

  it('sends unroutable messages to the alternate exchange (chains too, no loops)', () => {
    const v = new VirtualHost('/');
    v.declareExchange(x('ae2', 'fanout'));
    v.declareExchange(x('ae1', 'direct', { arguments: new Map([['alternate-exchange', str('ae2')]]) }));
    v.declareExchange(x('main', 'direct', { arguments: new Map([['alternate-exchange', str('ae1')]]) }));
    v.declareExchange(x('self', 'direct', { arguments: new Map([['alternate-exchange', str('self')]]) }));
    v.declareQueue(q('direct'), owner);
    v.declareQueue(q('fallback'), owner);
    v.bindQueue('direct', 'main', 'k', new Map(), owner);
    v.bindQueue('fallback', 'ae2', '', new Map(), owner);
    expect(v.publish('main', 'k', message('main', 'k', 'routed'))).toBe(1);
    expect(v.publish('main', 'x', message('main', 'x', 'alt'))).toBe(1);
    expect(v.publish('self', 'x', message('self', 'x', 'lost'))).toBe(0);
    expect(bodies(v, 'direct')).toEqual(['routed']);
    expect(bodies(v, 'fallback')).toEqual(['alt']);
  });

  it('routes CC and BCC keys and strips BCC from the stored message', () => {
    const v = new VirtualHost('/');
    for (const name of ['a', 'b', 'c']) {
      v.declareQueue(q(name), owner);
      v.bindQueue(name, 'amq.direct', name, new Map(), owner);
    }
    const arr = (...keys: string[]): FieldValue => ({ type: 'array', value: keys.map(str) });
    const m = message('amq.direct', 'a', 'm', {
      headers: new Map([
        ['CC', arr('b')],
        ['BCC', arr('c')],
      ]),
    });
    expect(v.publish('amq.direct', 'a', m)).toBe(3);
    const stored = v.getQueue('c', owner).shift()!.message;
    expect(stored.properties.headers!.has('BCC')).toBe(false);
    const cc = stored.properties.headers!.get('CC');
    expect(cc?.type === 'array' ? cc.value.map(fieldString) : undefined).toEqual(['b']);
    expect(v.getQueue('a', owner).shift()!.message).toBe(stored);
  });

  it('dead-letters through the dead-letter exchange; a missing one drops the message', () => {
    const v = new VirtualHost('/');
    v.declareExchange(x('dlx', 'direct'));
    v.declareQueue(q('dead'), owner);
    v.bindQueue('dead', 'dlx', 'to-dead', new Map(), owner);
    const args = new Map<string, FieldValue>([
      ['x-dead-letter-exchange', str('dlx')],
      ['x-dead-letter-routing-key', str('to-dead')],
      ['x-max-length', { type: 'int32', value: 1 }],
    ]);
    v.declareQueue(q('src', { arguments: args }), owner);
    v.publish('', 'src', message('', 'src', '1'));
    v.publish('', 'src', message('', 'src', '2'));
    const dead = v.getQueue('dead', owner).shift()!.message;
    expect(dead.body.toString()).toBe('1');
    expect(dead.exchange).toBe('dlx');
    expect(fieldString(dead.properties.headers!.get('x-first-death-reason'))).toBe('maxlen');
    v.declareQueue(
      q('orphan', {
        arguments: new Map([
          ['x-dead-letter-exchange', str('missing')],
          ['x-max-length', { type: 'int32', value: 0 }],
        ]),
      }),
      owner,
    );
    expect(v.publish('', 'orphan', message('', 'orphan', 'x'))).toBe(1);
    expect(v.getQueue('dead', owner).messageCount).toBe(0);
  });

  it('reports queues refusing a publish (reject-publish)', () => {
    const v = new VirtualHost('/');
    const args = new Map<string, FieldValue>([
      ['x-max-length', { type: 'int32', value: 0 }],
      ['x-overflow', str('reject-publish')],
    ]);
    v.declareQueue(q('full', { arguments: args }), owner);
    const outcome: PublishOutcome = { routed: 0, rejected: 0 };
    expect(v.publish('', 'full', message('', 'full', 'x'), outcome)).toBe(1);
    expect(outcome).toEqual({ routed: 1, rejected: 1 });
  });

  it('delivers direct replies to the registered reply consumer', () => {
    const v = new VirtualHost('/');
    const got: string[] = [];
    const token = v.addReplyConsumer({ deliverReply: (m) => got.push(m.body.toString()) });
    const name = `amq.rabbitmq.reply-to.${token}`;
    expect(v.publish('', name, message('', name, 'reply'))).toBe(1);
    expect(got).toEqual(['reply']);
    expect(v.declareQueue(q(name, { passive: true }), owner)).toEqual({
      name,
      messageCount: 0,
      consumerCount: 1,
    });
    v.removeReplyConsumer(token);
    expect(v.publish('', name, message('', name, 'late'))).toBe(0);
    expect(code(() => v.declareQueue(q(name, { passive: true }), owner))).toBe(404);
  });
});
