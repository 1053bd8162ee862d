/**
 * GET/POST /api/definitions (whole broker) and /api/definitions/{vhost} (one vhost, no users, vhosts or
 * permissions), in RabbitMQ's definitions format: what `rabbitmqadmin export/import` and
 * `rabbitmqctl import_definitions` read and write. Queues and exchanges of every kind are exported except
 * exclusive queues and the built-in exchanges; bindings of the default exchange are implicit.
 *
 * Import declares exchanges, then queues, then bindings; an object that already exists with other
 * properties fails the import with RabbitMQ's 400 `inequivalent arg` answer. Vhosts must exist (vhost
 * creation is the security work's); users and permissions in a whole-broker import are not stored yet.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Queue } from '../../queue/queue.js';
import { BROKER_VERSION } from '../../server.js';
import type { VirtualHost } from '../../vhost/virtual-host.js';
import type { AdminContext } from '../admin-context.js';
import { amqp, badRequest } from '../admin-http-error.js';
import { ADMIN_OWNER, vhostOr404 } from '../admin-route-helpers.js';
import { fieldTableToJson, jsonToFieldTable } from '../field-json.js';
import { parseBody } from '../request-body.js';
import { RABBITMQ_COMPATIBLE_VERSION } from './overview-routes.js';

type Json = Record<string, unknown>;

/** RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt ‖ sha256(salt ‖ password)), 4-byte salt. */
export function rabbitSha256Hash(password: string): string {
  const salt = randomBytes(4);
  const digest = createHash('sha256').update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

function vhostObjects(v: VirtualHost, withVhost: boolean) {
  const vh = withVhost ? { vhost: v.name } : {};
  const queues: Json[] = [];
  for (const q of v.queues()) {
    if (q.owner !== undefined) continue;
    queues.push({
      name: q.name,
      ...vh,
      durable: q.durable,
      auto_delete: q.autoDelete,
      arguments: fieldTableToJson(q.arguments),
    });
  }
  const exchanges: Json[] = [];
  const bindings: Json[] = [];
  for (const x of v.exchanges()) {
    if (x.name === '' || x.name.startsWith('amq.')) {
      // Built in: not exported, but their bindings are.
    } else {
      exchanges.push({
        name: x.name,
        ...vh,
        type: x.type,
        durable: x.durable,
        auto_delete: x.autoDelete,
        internal: x.internal,
        arguments: fieldTableToJson(x.arguments),
      });
    }
    if (x.name === '') continue;
    for (const b of x.bindings()) {
      if (b.destination instanceof Queue && b.destination.owner !== undefined) continue;
      bindings.push({
        source: x.name,
        ...vh,
        destination: b.destination.name,
        destination_type: b.destination instanceof Queue ? 'queue' : 'exchange',
        routing_key: b.routingKey,
        arguments: fieldTableToJson(b.arguments),
      });
    }
  }
  return { queues, exchanges, bindings };
}

const boolish = z.union([z.boolean(), z.enum(['true', 'false']).transform((s) => s === 'true')]);
const args = z.record(z.string(), z.unknown()).default({});
const definitionsBody = z.looseObject({
  vhosts: z.array(z.looseObject({ name: z.string() })).default([]),
  queues: z
    .array(
      z.looseObject({
        name: z.string(),
        vhost: z.string().optional(),
        durable: boolish.default(true),
        auto_delete: boolish.default(false),
        arguments: args,
      }),
    )
    .default([]),
  exchanges: z
    .array(
      z.looseObject({
        name: z.string(),
        vhost: z.string().optional(),
        type: z.string(),
        durable: boolish.default(true),
        auto_delete: boolish.default(false),
        internal: boolish.default(false),
        arguments: args,
      }),
    )
    .default([]),
  bindings: z
    .array(
      z.looseObject({
        source: z.string(),
        vhost: z.string().optional(),
        destination: z.string(),
        destination_type: z.enum(['queue', 'exchange']),
        routing_key: z.string().default(''),
        arguments: args,
      }),
    )
    .default([]),
});

export function registerDefinitionRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const header = {
    rabbit_version: RABBITMQ_COMPATIBLE_VERSION,
    rabbitmq_version: RABBITMQ_COMPATIBLE_VERSION,
    product_name: 'dispatchd',
    product_version: BROKER_VERSION,
  };
  app.get('/api/definitions', async () => {
    const vhosts = ctx.broker.vhosts();
    const objects = vhosts.map((v) => vhostObjects(v, true));
    const users = ctx.broker.users.list();
    return {
      ...header,
      users: users.map((u) => ({
        name: u.name,
        password_hash: u.passwordHash,
        hashing_algorithm: u.hashingAlgorithm,
        tags: [...u.tags],
        limits: {},
      })),
      vhosts: vhosts.map((v) => ({ name: v.name })),
      permissions: ctx.broker.permissions
        .list()
        .map((p) => ({ user: p.user, vhost: p.vhost, configure: p.configure, write: p.write, read: p.read })),
      topic_permissions: [],
      parameters: [],
      global_parameters: [],
      policies: [],
      queues: objects.flatMap((o) => o.queues),
      exchanges: objects.flatMap((o) => o.exchanges),
      bindings: objects.flatMap((o) => o.bindings),
    };
  });
  app.get<{ Params: { vhost: string } }>('/api/definitions/:vhost', async (request) => {
    const v = vhostOr404(ctx, request.params.vhost);
    return {
      rabbit_version: RABBITMQ_COMPATIBLE_VERSION,
      parameters: [],
      policies: [],
      ...vhostObjects(v, false),
    };
  });

  const importInto = (body: unknown, only: VirtualHost | undefined): void => {
    const defs = parseBody(definitionsBody, typeof body === 'string' ? safeJson(body) : body);
    const vhostOf = (name: string | undefined): VirtualHost => {
      if (only !== undefined) return only;
      const v = ctx.broker.vhost(name ?? '/');
      if (v === undefined) throw badRequest(`vhost '${name ?? '/'}' does not exist`);
      return v;
    };
    // Every vhost named must exist before anything is declared: an import does all or nothing of that.
    if (only === undefined) {
      for (const name of [
        ...defs.vhosts.map((v) => v.name),
        ...defs.queues.map((q) => q.vhost),
        ...defs.exchanges.map((x) => x.vhost),
        ...defs.bindings.map((b) => b.vhost),
      ])
        vhostOf(name);
    }
    amqp(() => {
      for (const x of defs.exchanges) {
        vhostOf(x.vhost).declareExchange({
          name: x.name,
          type: x.type,
          passive: false,
          durable: x.durable,
          autoDelete: x.auto_delete,
          internal: x.internal,
          arguments: jsonToFieldTable(x.arguments),
        });
      }
      for (const q of defs.queues) {
        vhostOf(q.vhost).declareQueue(
          {
            name: q.name,
            passive: false,
            durable: q.durable,
            exclusive: false,
            autoDelete: q.auto_delete,
            arguments: jsonToFieldTable(q.arguments),
          },
          ADMIN_OWNER,
        );
      }
      for (const b of defs.bindings) {
        const v = vhostOf(b.vhost);
        const a = jsonToFieldTable(b.arguments);
        if (b.destination_type === 'queue')
          v.bindQueue(b.destination, b.source, b.routing_key, a, ADMIN_OWNER);
        else v.bindExchange(b.destination, b.source, b.routing_key, a);
      }
    });
  };
  app.post('/api/definitions', async (request, reply) => {
    importInto(request.body, undefined);
    return reply.code(204).send();
  });
  app.post<{ Params: { vhost: string } }>('/api/definitions/:vhost', async (request, reply) => {
    importInto(request.body, vhostOr404(ctx, request.params.vhost));
    return reply.code(204).send();
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('not_json');
  }
}
