/**
 * GET/POST /api/definitions (whole broker) and /api/definitions/{vhost} (one vhost, no users, vhosts or
 * permissions), in RabbitMQ's definitions format: what `rabbitmqadmin export/import` and
 * `rabbitmqctl import_definitions` read and write. Queues and exchanges of every kind are exported except
 * exclusive queues and the built-in exchanges; bindings of the default exchange are implicit.
 *
 * Import declares exchanges, then queues, then bindings; an object that already exists with other
 * properties fails the import with RabbitMQ's 400 `inequivalent arg` answer. A whole-broker import first
 * creates the vhosts it lists, then stores its users (hashes as given; an existing user is replaced, as
 * RabbitMQ's import does) and permissions; everything is checked before anything is changed, so a bad
 * user, hash, permission or unknown vhost fails the import with 400 and changes nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DEFAULT_HASHING_ALGORITHM, isHashingAlgorithm, isValidHash } from '../../auth/password-hash.js';
import type { UserInput } from '../../auth/user-store.js';
import { BrokerError } from '../../errors.js';
import { Queue } from '../../queue/queue.js';
import { BROKER_VERSION } from '../../server.js';
import type { VirtualHost } from '../../vhost/virtual-host.js';
import type { AdminContext } from '../admin-context.js';
import { amqp, badRequest } from '../admin-http-error.js';
import { ADMIN_OWNER, vhostOr404 } from '../admin-route-helpers.js';
import { fieldTableToJson, jsonToFieldTable } from '../field-json.js';
import { parseBody } from '../request-body.js';
import { RABBITMQ_COMPATIBLE_VERSION } from './overview-routes.js';
import { topicPermissionJson } from './topic-permission-routes.js';
import { parseTags } from './user-routes.js';

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
  rabbit_version: z.string().optional(),
  vhosts: z.array(z.looseObject({ name: z.string() })).default([]),
  users: z
    .array(
      z.looseObject({
        name: z.string(),
        password_hash: z.string().default(''),
        hashing_algorithm: z.string().optional(),
        tags: z.union([z.string(), z.array(z.string())]).default([]),
      }),
    )
    .default([]),
  permissions: z
    .array(
      z.looseObject({
        user: z.string(),
        vhost: z.string(),
        configure: z.string(),
        write: z.string(),
        read: z.string(),
      }),
    )
    .default([]),
  topic_permissions: z
    .array(
      z.looseObject({
        user: z.string(),
        vhost: z.string(),
        exchange: z.string(),
        write: z.string(),
        read: z.string(),
      }),
    )
    .default([]),
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
      topic_permissions: ctx.broker.topicPermissions.list().map(topicPermissionJson),
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

  const importInto = async (body: unknown, only: VirtualHost | undefined): Promise<void> => {
    const defs = parseBody(definitionsBody, typeof body === 'string' ? safeJson(body) : body);
    const created = new Set(only === undefined ? defs.vhosts.map((v) => v.name) : []);
    const vhostOf = (name: string | undefined): VirtualHost => {
      if (only !== undefined) return only;
      const v = ctx.broker.vhost(name ?? '/');
      if (v === undefined) throw badRequest(`vhost '${name ?? '/'}' does not exist`);
      return v;
    };
    // Every vhost named must exist or be created by the file before anything is changed.
    if (only === undefined) {
      for (const name of [
        ...defs.queues.map((q) => q.vhost),
        ...defs.exchanges.map((x) => x.vhost),
        ...defs.bindings.map((b) => b.vhost),
        ...defs.permissions.map((p) => p.vhost),
        ...defs.topic_permissions.map((p) => p.vhost),
      ])
        if (!created.has(name ?? '/')) vhostOf(name);
    }
    const users = only === undefined ? defs.users.map((u) => importedUser(u, defs.rabbit_version)) : [];
    const permissions = only === undefined ? defs.permissions : [];
    const topicPermissions = only === undefined ? defs.topic_permissions : [];
    const userNames = new Set(users.map((u) => u.name));
    for (const p of permissions) {
      if (!userNames.has(p.user) && !ctx.broker.users.has(p.user)) {
        throw badRequest(`permission of '${p.user}' on '${p.vhost}': no such user`);
      }
      for (const kind of ['configure', 'write', 'read'] as const) checkRegex(p[kind], p.user, p.vhost);
    }
    for (const p of topicPermissions) {
      if (!userNames.has(p.user) && !ctx.broker.users.has(p.user)) {
        throw badRequest(`topic permission of '${p.user}' on '${p.vhost}': no such user`);
      }
      for (const kind of ['write', 'read'] as const) checkRegex(p[kind], p.user, p.vhost);
    }
    for (const name of created) {
      await ctx.broker.addVhost(name).catch((err: unknown) => {
        throw err instanceof BrokerError ? badRequest(err.message) : err;
      });
    }
    for (const u of users) ctx.broker.users.put(u);
    for (const p of permissions) ctx.broker.permissions.put(p);
    for (const p of topicPermissions) ctx.broker.topicPermissions.put(p);
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
    await importInto(request.body, undefined);
    await ctx.broker.flushDefinitions();
    return reply.code(204).send();
  });
  app.post<{ Params: { vhost: string } }>('/api/definitions/:vhost', async (request, reply) => {
    await importInto(request.body, vhostOr404(ctx, request.params.vhost));
    return reply.code(204).send();
  });
}

type ImportedUser = z.output<typeof definitionsBody>['users'][number];

/**
 * A user of a definitions file, checked. Without `hashing_algorithm` RabbitMQ assumes its default, or MD5
 * for a file without `rabbit_version` (exports older than 3.6).
 */
function importedUser(u: ImportedUser, rabbitVersion: string | undefined): UserInput {
  const algorithm =
    u.hashing_algorithm ??
    (rabbitVersion === undefined ? 'rabbit_password_hashing_md5' : DEFAULT_HASHING_ALGORITHM);
  if (u.name === '') throw badRequest('a user needs a non-empty name');
  if (!isHashingAlgorithm(algorithm))
    throw badRequest(`user '${u.name}': unknown hashing algorithm '${algorithm}'`);
  if (u.password_hash !== '' && !isValidHash(u.password_hash, algorithm)) {
    throw badRequest(`user '${u.name}': password hash is not a valid ${algorithm} hash`);
  }
  return {
    name: u.name,
    passwordHash: u.password_hash,
    hashingAlgorithm: algorithm,
    tags: parseTags(u.tags),
  };
}

function checkRegex(source: string, user: string, vhost: string): void {
  try {
    new RegExp(source);
  } catch (err) {
    throw badRequest(
      `permission of '${user}' on '${vhost}': not a valid regular expression: ${(err as Error).message}`,
    );
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('not_json');
  }
}
