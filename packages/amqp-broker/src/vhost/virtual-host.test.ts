import { describe, expect, it } from 'vitest';
import { AmqpError } from '../errors.js';
import { Message } from '../queue/message.js';
import { VirtualHost } from './virtual-host.js';

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
    expect(code(() => v.declareQueue(q('ex', { exclusive: true, durable: true }), owner))).toBe(406);
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
});
