/**
 * The management API's own actions obey the user's resource permissions, on RabbitMQ (the machine's, with a
 * vhost and users this test creates and removes) and on ours alike. A `management` user and an
 * `administrator` (not exempt: the tag opens the API, not the resources) with configure `^cfg-`, write `^w-`,
 * read `^r-` (and topic permissions on two topic exchanges) declare, delete, purge, get, publish, bind and
 * unbind allowed and refused resources; status codes, error bodies and `Location` headers must match.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { type ManagementSide, managementSuite } from './management-suite.js';

const SUFFIX = randomBytes(4).toString('hex');
const VHOST = `dsp-perm-vh-${SUFFIX}`;
const USER = `dsp-perm-user-${SUFFIX}`;
const ADMIN = `dsp-perm-admin-${SUFFIX}`;
const PASSWORD = randomBytes(12).toString('base64url');
const V = encodeURIComponent(VHOST);
const NARROW = { configure: '^cfg-.*', write: '^w-.*', read: '^r-.*' };

type Target = ManagementSide;

/** One request as `user`: what clients read of the answer. */
async function call(t: Target, user: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${t.api.baseUrl}/api/${path}`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const location = res.headers.get('location');
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as unknown) : undefined,
    ...(location === null ? {} : { location }),
  };
}

async function setUp(t: Target): Promise<void> {
  const ok = async (method: string, path: string, body?: unknown) => {
    const res = await t.api.call(method, path, body);
    expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
  };
  await ok('PUT', `vhosts/${V}`, {});
  await ok('PUT', `permissions/${V}/guest`, { configure: '.*', write: '.*', read: '.*' });
  for (const [user, tags] of [
    [USER, 'management'],
    [ADMIN, 'administrator'],
  ] as const) {
    await ok('PUT', `users/${user}`, { password: PASSWORD, tags });
    await ok('PUT', `permissions/${V}/${user}`, NARROW);
  }
  for (const q of ['r-q', 'w-q', 'q']) await ok('PUT', `queues/${V}/${q}`, { durable: false });
  for (const x of ['r-x', 'w-x', 'x']) await ok('PUT', `exchanges/${V}/${x}`, { type: 'direct' });
  await ok('PUT', `exchanges/${V}/w-x2`, { type: 'fanout' });
  for (const x of ['r-t', 'w-t']) {
    await ok('PUT', `exchanges/${V}/${x}`, { type: 'topic' });
    await ok('PUT', `topic-permissions/${V}/${USER}`, { exchange: x, write: '^ok\\.', read: '^rok\\.' });
  }
  // Bindings the narrow user then tries to delete.
  await ok('POST', `bindings/${V}/e/x/q/w-q`, { routing_key: 'gk' });
  await ok('POST', `bindings/${V}/e/r-x/q/q`, { routing_key: 'gk' });
  await ok('POST', `bindings/${V}/e/x/e/w-x2`, { routing_key: 'gk' });
  await ok('POST', `bindings/${V}/e/r-t/q/w-q`, { routing_key: 'bad.2' });
}

async function tearDown(t: Target): Promise<void> {
  for (const user of [USER, ADMIN]) await t.api.call('DELETE', `users/${user}`).catch(() => {});
  await t.api.call('DELETE', `vhosts/${V}`).catch(() => {});
}

/** The answers to `cases` as `user`, labelled so that a difference between the brokers names its case. */
async function answers(
  t: Target,
  user: string,
  cases: readonly (readonly [string, string, unknown?])[],
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [method, path, body] of cases) {
    out[`${method} ${path} ${body === undefined ? '' : JSON.stringify(body)}`] = await call(
      t,
      user,
      method,
      path,
      body,
    );
  }
  return out;
}

const get = { count: 1, ackmode: 'ack_requeue_true', encoding: 'auto' };
const publish = (routing_key: string) => ({
  properties: {},
  routing_key,
  payload: 'x',
  payload_encoding: 'string',
});

managementSuite(
  'management API actions and resource permissions, as RabbitMQ',
  {
    'queues: declare and delete need configure, purge and get need read': (t) =>
      answers(t, USER, [
        ['PUT', `queues/${V}/x`, { durable: false }],
        ['PUT', `queues/${V}/cfg-new`, { durable: false }],
        ['PUT', `queues/${V}/cfg-new`, { durable: false }],
        ['PUT', `queues/${V}/q`, { durable: false }],
        // Creating with a dead-letter exchange also needs read on the queue and write on that exchange.
        ['PUT', `queues/${V}/cfg-dlq`, { arguments: { 'x-dead-letter-exchange': 'w-x' } }],
        ['DELETE', `queues/${V}/q`],
        ['DELETE', `queues/${V}/cfg-new`],
        ['DELETE', `queues/${V}/cfg-missing`],
        ['DELETE', `queues/${V}/r-q/contents`],
        ['DELETE', `queues/${V}/q/contents`],
        ['DELETE', `queues/${V}/missing/contents`],
        ['POST', `queues/${V}/r-q/get`, get],
        ['POST', `queues/${V}/q/get`, get],
        // get checks before looking up: a refused missing queue is 401, an allowed one 404.
        ['POST', `queues/${V}/missing/get`, get],
        ['POST', `queues/${V}/r-missing/get`, get],
      ]),

    'exchanges: declare and delete need configure, publish needs write and the topic permission': (t) =>
      answers(t, USER, [
        ['PUT', `exchanges/${V}/x`, { type: 'direct' }],
        ['PUT', `exchanges/${V}/cfg-x`, { type: 'direct' }],
        ['PUT', `exchanges/${V}/cfg-x`, { type: 'direct' }],
        ['PUT', `exchanges/${V}/amq.default`, { type: 'direct' }],
        ['PUT', `exchanges/${V}/zz`, { type: 'no-such-type' }],
        ['PUT', `exchanges/${V}/cfg-ae`, { type: 'fanout', arguments: { 'alternate-exchange': 'w-x' } }],
        ['DELETE', `exchanges/${V}/x`],
        ['DELETE', `exchanges/${V}/cfg-x`],
        ['DELETE', `exchanges/${V}/missing`],
        ['DELETE', `exchanges/${V}/amq.direct`],
        ['POST', `exchanges/${V}/w-x/publish`, publish('k')],
        ['POST', `exchanges/${V}/x/publish`, publish('k')],
        ['POST', `exchanges/${V}/amq.default/publish`, publish('r-q')],
        // publish checks before looking up: a refused missing exchange is the 403, an allowed one the 404.
        ['POST', `exchanges/${V}/missing/publish`, publish('k')],
        ['POST', `exchanges/${V}/w-missing/publish`, publish('k')],
        ['POST', `exchanges/${V}/w-t/publish`, publish('ok.1')],
        ['POST', `exchanges/${V}/w-t/publish`, publish('bad.1')],
      ]),

    'bindings: bind and unbind need write on the destination, read on the source and the topic permission':
      async (t) => {
        const out = await answers(t, USER, [
          ['POST', `bindings/${V}/e/r-x/q/w-q`, { routing_key: 'k' }],
          ['POST', `bindings/${V}/e/r-x/q/r-q`, { routing_key: 'k' }],
          ['POST', `bindings/${V}/e/x/q/w-q`, { routing_key: 'k' }],
          ['POST', `bindings/${V}/e/amq.default/q/w-q`, { routing_key: 'k' }],
          // Checked before the ends are looked up.
          ['POST', `bindings/${V}/e/r-x/q/missing`, { routing_key: 'k' }],
          ['POST', `bindings/${V}/e/r-x/q/w-missing`, { routing_key: 'k' }],
          ['POST', `bindings/${V}/e/missing/q/w-q`, { routing_key: 'k' }],
          ['POST', `bindings/${V}/e/r-missing/q/w-q`, { routing_key: 'k' }],
          ['POST', `bindings/${V}/e/r-x/e/w-x2`, { routing_key: 'k' }],
          ['POST', `bindings/${V}/e/r-x/e/x`, { routing_key: 'k' }],
          ['POST', `bindings/${V}/e/x/e/w-x2`, { routing_key: 'k' }],
          ['POST', `bindings/${V}/e/r-x/e/w-missing`, { routing_key: 'k' }],
          ['POST', `bindings/${V}/e/r-t/q/w-q`, { routing_key: 'rok.1' }],
          ['POST', `bindings/${V}/e/r-t/q/w-q`, { routing_key: 'bad.1' }],
          ['POST', `bindings/${V}/e/r-t/e/w-x2`, { routing_key: 'bad.1' }],
          ['DELETE', `bindings/${V}/e/x/q/w-q/gk`],
          ['DELETE', `bindings/${V}/e/r-x/q/q/gk`],
          ['DELETE', `bindings/${V}/e/x/e/w-x2/gk`],
          ['DELETE', `bindings/${V}/e/r-t/q/w-q/bad.2`],
          // A missing binding is 404 before any check.
          ['DELETE', `bindings/${V}/e/x/q/w-q/missing`],
          ['DELETE', `bindings/${V}/e/r-x/q/w-q/k`],
          ['DELETE', `bindings/${V}/e/r-t/q/w-q/rok.1`],
          ['DELETE', `bindings/${V}/e/r-x/e/w-x2/k`],
        ]);
        // The refused ones changed nothing.
        const left = (
          (await t.api.call('GET', `bindings/${V}`)).body as { source: string; routing_key: string }[]
        )
          .filter((b) => b.source !== '')
          .map((b) => `${b.source}:${b.routing_key}`)
          .sort();
        if (t.name === 'dispatcher') expect(left).toEqual(['r-t:bad.2', 'r-x:gk', 'x:gk', 'x:gk']);
        return { answers: out, left };
      },

    'an administrator is held to its permissions too': (t) =>
      answers(t, ADMIN, [
        ['PUT', `queues/${V}/x`, { durable: false }],
        ['PUT', `queues/${V}/cfg-admin`, { durable: false }],
        ['DELETE', `queues/${V}/q`],
        ['DELETE', `queues/${V}/q/contents`],
        ['POST', `queues/${V}/q/get`, get],
        ['PUT', `exchanges/${V}/x`, { type: 'direct' }],
        ['DELETE', `exchanges/${V}/x`],
        ['POST', `exchanges/${V}/x/publish`, publish('k')],
        ['POST', `bindings/${V}/e/x/q/w-q`, { routing_key: 'k' }],
        ['DELETE', `bindings/${V}/e/x/q/w-q/gk`],
        // Its topic permissions: none, so a topic exchange it may write to takes any key.
        ['POST', `exchanges/${V}/w-t/publish`, publish('bad.1')],
      ]),
  },
  { concurrent: false, setupTimeoutMs: 180_000, prepare: setUp, cleanup: tearDown },
);
