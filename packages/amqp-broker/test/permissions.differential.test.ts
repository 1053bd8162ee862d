/**
 * The permission matrix per AMQP method, on our broker and on RabbitMQ with the same vhost, users and
 * permissions (created by the test with rabbitmqctl, deleted afterwards): every method must be allowed or
 * refused alike, with the same reply code and text.
 *
 * User `limited` has configure `^c-`, write `^w-`, read `r-` (unanchored on purpose: RabbitMQ matches
 * without anchors, so `r-` also allows `xr-q` and `c-r-q`). Fixtures (queues and exchanges named for the
 * permission they exercise) are declared by a user with full permissions.
 */

import { rabbitmqctl } from '@dispatcher/tooling';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MethodId } from '../src/codec/generated/amqp-spec.js';
import type { BrokerServer, BrokerServerOptions } from '../src/index.js';
import { channelCloseOf } from './helpers/amqp-helpers.js';
import { type DifferentialScenario, differentialSuite } from './helpers/differential-suite.js';
import { RawClient } from './helpers/raw-client.js';
import { startBroker, uniqueName } from './helpers/targets.js';

const vhost = uniqueName('perm');
const otherVhost = `${vhost}-other`;
const suffix = vhost.slice(-6);
const USERS = {
  setup: `dsp-setup-${suffix}`,
  limited: `dsp-limited-${suffix}`,
  impersonator: `dsp-imp-${suffix}`,
} as const;
const PASSWORD = 'secret-pw';
const PERMS = {
  setup: ['.*', '.*', '.*'],
  limited: ['^c-', '^w-', 'r-'],
  impersonator: ['.*', '.*', '.*'],
} as const;

interface Side {
  readonly host: string;
  readonly port: number;
  /** Connections of the limited user, one per scenario. */
  url(user: keyof typeof USERS, vh?: string): string;
}

type Outcome = { code: number | undefined; text: string | undefined } | 'ok';

/** Runs `op` on a fresh channel of a fresh connection of `user`; the channel.close it got, or 'ok'. */
async function outcome(
  side: Side,
  op: (ch: Channel) => Promise<unknown>,
  user: keyof typeof USERS = 'limited',
): Promise<Outcome> {
  const conn: ChannelModel = await amqp.connect(side.url(user));
  conn.on('error', () => {});
  try {
    const info = await channelCloseOf(
      () => conn.createChannel(),
      async (ch) => {
        await op(ch);
        // A round trip: a publish refused asynchronously shows up here.
        await ch.checkExchange('amq.direct');
      },
    );
    if (info === undefined) return 'ok';
    // Server-generated queue names differ by nature; the vhost and user names by run.
    let text = info.text?.replace(/amq\.gen-[\w-]+/g, 'amq.gen-*').replaceAll(`'${vhost}'`, "'<vhost>'");
    for (const [key, name] of Object.entries(USERS)) text = text?.replaceAll(`'${name}'`, `'<${key}>'`);
    return { code: info.code, text };
  } finally {
    await conn.close().catch(() => {});
  }
}

const publish =
  (exchange: string, key = 'k', options = {}) =>
  async (ch: Channel) => {
    ch.publish(exchange, key, Buffer.from('m'), options);
  };

/** Scenarios in order (some change what later ones see, identically on both brokers). */
const SCENARIOS: [string, (ch: Channel) => Promise<unknown>, (keyof typeof USERS)?][] = [
  ['queue.declare with configure', (ch) => ch.assertQueue('c-new', { durable: false })],
  ['queue.declare without configure', (ch) => ch.assertQueue('w-new', { durable: false })],
  ['queue.declare of an existing queue without configure', (ch) => ch.assertQueue('w-q', { durable: false })],
  ['queue.declare passive needs no permission', (ch) => ch.checkQueue('w-q')],
  ['queue.declare passive of a missing queue', (ch) => ch.checkQueue('w-missing')],
  ['queue.declare server-named (amq.gen-…)', (ch) => ch.assertQueue('', { exclusive: true })],
  [
    'queue.declare with x-dead-letter-exchange: read on the queue',
    (ch) => ch.assertQueue('c-dl1', { durable: false, deadLetterExchange: 'w-x' }),
  ],
  [
    'queue.declare with x-dead-letter-exchange: write on the DLX',
    (ch) => ch.assertQueue('c-r-dl2', { durable: false, deadLetterExchange: 'amq.direct' }),
  ],
  [
    'queue.declare with the default exchange as DLX (amq.default)',
    (ch) => ch.assertQueue('c-r-dl3', { durable: false, deadLetterExchange: '' }),
  ],
  [
    'queue.declare with a permitted DLX',
    (ch) => ch.assertQueue('c-r-dl4', { durable: false, deadLetterExchange: 'w-x' }),
  ],
  ['exchange.declare with configure', (ch) => ch.assertExchange('c-xnew', 'direct', { durable: false })],
  ['exchange.declare without configure', (ch) => ch.assertExchange('w-xnew', 'direct', { durable: false })],
  ['exchange.declare passive', (ch) => ch.checkExchange('w-x')],
  [
    'exchange.declare with alternate-exchange: read on the exchange',
    (ch) => ch.assertExchange('c-ae1', 'direct', { durable: false, alternateExchange: 'w-x' }),
  ],
  [
    'exchange.declare with alternate-exchange: write on the AE',
    (ch) => ch.assertExchange('c-r-ae2', 'direct', { durable: false, alternateExchange: 'amq.fanout' }),
  ],
  [
    'exchange.declare with a permitted alternate-exchange',
    (ch) => ch.assertExchange('c-r-ae3', 'direct', { durable: false, alternateExchange: 'w-x' }),
  ],
  ['exchange.delete without configure', (ch) => ch.deleteExchange('w-x')],
  ['exchange.delete of amq.direct', (ch) => ch.deleteExchange('amq.direct')],
  ['exchange.delete with configure', (ch) => ch.deleteExchange('c-x')],
  ['queue.bind: write on the queue, read on the exchange', (ch) => ch.bindQueue('w-q', 'r-x', 'k')],
  ['queue.bind without read on the exchange', (ch) => ch.bindQueue('w-q', 'w-x', 'k')],
  ['queue.bind without write on the queue', (ch) => ch.bindQueue('r-q', 'r-x', 'k')],
  ['queue.bind to the default exchange', (ch) => ch.bindQueue('w-q', '', 'k')],
  ['queue.bind to a missing exchange', (ch) => ch.bindQueue('w-q', 'r-missing', 'k')],
  ['queue.unbind allowed', (ch) => ch.unbindQueue('w-q', 'r-x', 'k')],
  ['queue.unbind without read on the exchange', (ch) => ch.unbindQueue('w-q', 'w-x', 'k')],
  ['exchange.bind: write on the destination, read on the source', (ch) => ch.bindExchange('w-x', 'r-x', 'k')],
  ['exchange.bind without write on the destination', (ch) => ch.bindExchange('r-x', 'r-x', 'k')],
  ['exchange.bind without read on the source', (ch) => ch.bindExchange('w-x', 'w-x', 'k')],
  ['exchange.unbind allowed', (ch) => ch.unbindExchange('w-x', 'r-x', 'k')],
  ['basic.publish with write', publish('w-x')],
  ['basic.publish to the default exchange (amq.default)', publish('', 'w-q')],
  ['basic.publish without write', publish('r-x')],
  ['basic.publish to a missing exchange', publish('w-missing')],
  ['basic.publish with user_id of the user', publish('w-x', 'k', { userId: USERS.limited })],
  ['basic.publish with another user_id', publish('w-x', 'k', { userId: 'someone-else' })],
  [
    'basic.publish with another user_id by an impersonator',
    publish('w-x', 'k', { userId: 'someone-else' }),
    'impersonator',
  ],
  ['basic.get with read', (ch) => ch.get('r-q')],
  ['basic.get with read (unanchored match)', (ch) => ch.get('xr-q')],
  ['basic.get without read', (ch) => ch.get('w-q')],
  ['basic.consume with read', (ch) => ch.consume('r-q', () => {})],
  ['basic.consume without read', (ch) => ch.consume('w-q', () => {})],
  ['queue.purge with read', (ch) => ch.purgeQueue('r-q')],
  ['queue.purge without read', (ch) => ch.purgeQueue('w-q')],
  ['queue.purge of a missing queue without read', (ch) => ch.purgeQueue('w-missing')],
  ['queue.purge of a missing queue with read', (ch) => ch.purgeQueue('r-missing')],
  ['queue.delete without configure', (ch) => ch.deleteQueue('w-q')],
  ['queue.delete with configure', (ch) => ch.deleteQueue('c-q')],
];

/** Queues and exchanges the scenarios use, declared by the setup user. */
async function declareFixtures(side: Side): Promise<void> {
  const conn = await amqp.connect(side.url('setup'));
  try {
    const ch = await conn.createChannel();
    for (const q of ['c-q', 'w-q', 'r-q', 'xr-q']) await ch.assertQueue(q, { durable: false });
    for (const x of ['c-x', 'w-x', 'r-x']) await ch.assertExchange(x, 'direct', { durable: false });
    await ch.close();
  } finally {
    await conn.close();
  }
}

/** connection.start-ok … open by hand, to see the connection.close text amqplib does not report. */
async function connectionClose(
  side: Side,
  user: string,
  password: string,
  vh: string,
): Promise<[number, string, number, number] | 'open'> {
  const c = await RawClient.connect(side.port, side.host);
  try {
    c.parseFrames();
    c.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
    await c.expectMethod(MethodId.ConnectionStart, 0, 10_000);
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
      mechanism: 'PLAIN',
      response: Buffer.from(`\0${user}\0${password}`),
      locale: 'en_US',
    });
    await c.until(
      () => c.closeMethod() !== undefined || c.frames.some((f) => f.method?.id === MethodId.ConnectionTune),
      10_000,
      'tune or close',
    );
    const tune = c.frames.find((f) => f.method?.id === MethodId.ConnectionTune);
    if (tune?.method?.id === MethodId.ConnectionTune) {
      // RabbitMQ 3.10 never answers an open after a tune-ok with channel_max 0: echo its values.
      const { channelMax, frameMax } = tune.method;
      c.send(0, { id: MethodId.ConnectionTuneOk, channelMax, frameMax, heartbeat: 0 });
      c.send(0, { id: MethodId.ConnectionOpen, virtualHost: vh, capabilities: '', insist: false });
      await c.until(
        () =>
          c.closeMethod() !== undefined || c.frames.some((f) => f.method?.id === MethodId.ConnectionOpenOk),
        10_000,
        'open-ok or close',
      );
    }
    const close = c.closeMethod();
    if (close?.id !== MethodId.ConnectionClose) return 'open';
    return [close.replyCode, close.replyText, close.classId, close.methodId];
  } finally {
    c.close();
  }
}

function side(host: string, port: number): Side {
  return {
    host,
    port,
    url: (user, vh = vhost) =>
      `amqp://${encodeURIComponent(USERS[user])}:${PASSWORD}@${host}:${port}/${encodeURIComponent(vh)}`,
  };
}

/** The scenarios' view of a broker, from the URL the suite gives them. */
function sideOf(url: string): Side {
  const u = new URL(url);
  return side(u.hostname, Number(u.port || 5672));
}

const OPEN_OTHER_VHOST = 'connection.open to a vhost without a permission entry: 530 NOT_ALLOWED';
const REFUSED = 'a wrong password and an unknown user: 403 ACCESS_REFUSED (authentication_failure_close)';

const OUR_OPTIONS: BrokerServerOptions = {
  vhosts: ['/', vhost, otherVhost],
  users: {
    // The suite's own connection (guest, vhost '/').
    guest: { password: 'guest', tags: ['administrator'] },
    ...Object.fromEntries(
      Object.entries(USERS).map(([key, name]) => [
        name,
        { password: PASSWORD, tags: key === 'impersonator' ? ['impersonator'] : [] },
      ]),
    ),
  },
  permissions: [
    { user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' },
    ...Object.entries(USERS).map(([key, user]) => {
      const [configure, write, read] = PERMS[key as keyof typeof USERS];
      return { user, vhost, configure, write, read };
    }),
  ],
};

differentialSuite(
  'permissions: dispatcher vs RabbitMQ, per AMQP method',
  {
    ...Object.fromEntries(
      SCENARIOS.map(([name, op, user]): [string, DifferentialScenario] => [
        name,
        ({ url }) => outcome(sideOf(url), op, user),
      ]),
    ),
    [OPEN_OTHER_VHOST]: async ({ url }) => {
      const close = await connectionClose(sideOf(url), USERS.limited, PASSWORD, otherVhost);
      // The names are the run's own: labels in the snapshot.
      if (!Array.isArray(close)) return close;
      const [code, text, classId, methodId] = close;
      return [
        code,
        String(text).replace(otherVhost, '<other>').replace(USERS.limited, '<limited>'),
        classId,
        methodId,
      ];
    },
    [REFUSED]: async ({ url }) => [
      await connectionClose(sideOf(url), USERS.limited, 'wrong', vhost),
      await connectionClose(sideOf(url), 'dsp-nobody', PASSWORD, vhost),
    ],
  },
  () => {},
  {
    concurrent: false,
    broker: OUR_OPTIONS,
    prepare: async ({ url, side: broker }) => {
      if (broker.name === 'rabbitmq') {
        await rabbitmqctl('add_vhost', vhost);
        await rabbitmqctl('add_vhost', otherVhost);
        for (const [key, user] of Object.entries(USERS)) {
          await rabbitmqctl('add_user', user, PASSWORD);
          if (key === 'impersonator') await rabbitmqctl('set_user_tags', user, 'impersonator');
          await rabbitmqctl('set_permissions', '-p', vhost, user, ...PERMS[key as keyof typeof USERS]);
        }
      }
      await declareFixtures(sideOf(url));
      return undefined;
    },
    cleanup: async ({ side: broker }) => {
      if (broker.name !== 'rabbitmq') return;
      for (const vh of [vhost, otherVhost]) await rabbitmqctl('delete_vhost', vh).catch(() => {});
      for (const user of Object.values(USERS)) await rabbitmqctl('delete_user', user).catch(() => {});
    },
    expected: {
      [OPEN_OTHER_VHOST]: [
        530,
        "NOT_ALLOWED - access to vhost '<other>' refused for user '<limited>'",
        10,
        40,
      ],
      [REFUSED]: Array(2).fill([
        403,
        'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.',
        0,
        0,
      ]),
    },
  },
);

describe('permissions at run time (ours)', () => {
  let server: BrokerServer;
  beforeAll(async () => {
    ({ server } = await startBroker(OUR_OPTIONS));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a permission granted at run time applies to the next method', async () => {
    const ours = side('127.0.0.1', server.port);
    const op = (ch: Channel) => ch.assertQueue('granted-later', { durable: false });
    const before = await outcome(ours, op);
    expect(before).toMatchObject({ code: 403 });
    server.permissions.put({ user: USERS.limited, vhost, configure: '.*', write: '^w-', read: 'r-' });
    expect(await outcome(ours, op)).toBe('ok');
    server.permissions.put({ user: USERS.limited, vhost, configure: '^c-', write: '^w-', read: 'r-' });
  });
});
