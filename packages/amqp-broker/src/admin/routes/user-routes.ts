/**
 * /api/users[/{name}] (GET; PUT creates 201 / updates 204; DELETE) and POST /api/users/bulk-delete,
 * administrators only, stored through
 * the broker's {@link UserStore} (persisted with the broker's definitions). A PUT carries `password` (hashed
 * at once) or `password_hash` (+ `hashing_algorithm`), and `tags` as a comma-separated string or an array.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HashingAlgorithm } from '../../auth/password-hash.js';
import type { User, UserInput } from '../../auth/user-store.js';
import { BrokerError } from '../../errors.js';
import type { AdminContext } from '../admin-context.js';
import { AdminHttpError, badRequest, notFound } from '../admin-http-error.js';
import { applyListQuery, type ListQuery } from '../list-query.js';
import { parseBody } from '../request-body.js';

const userPutBody = z.looseObject({
  password: z.string().optional(),
  password_hash: z.string().optional(),
  hashing_algorithm: z.string().optional(),
  tags: z.union([z.string(), z.array(z.string())]).optional(),
});

/** RabbitMQ's tag list: `"a, b"` and `["a","b"]` are the same; empty entries are dropped. */
export function parseTags(tags: string | readonly string[]): string[] {
  const list = typeof tags === 'string' ? tags.split(',') : tags;
  return list.map((t) => t.trim()).filter((t) => t !== '');
}

export function userJson(u: User) {
  return {
    name: u.name,
    password_hash: u.passwordHash,
    hashing_algorithm: u.hashingAlgorithm,
    tags: [...u.tags],
    limits: {},
  };
}

/** Runs a store change, answering its validation errors with RabbitMQ's 400. */
export function stored<T>(op: () => T): T {
  try {
    return op();
  } catch (err) {
    if (err instanceof BrokerError && err.code === 'DSP_BROKER_INVALID_ARGUMENT')
      throw badRequest(err.message);
    throw err;
  }
}

function userInput(name: string, body: z.output<typeof userPutBody>, existing: User | undefined): UserInput {
  if (body.tags === undefined) throw badRequest('tags_not_present');
  const tags = parseTags(body.tags);
  if (body.password !== undefined && body.password_hash !== undefined) {
    throw badRequest('Both password and password_hash are present');
  }
  if (body.password !== undefined) return { name, password: body.password, tags };
  if (body.password_hash !== undefined) {
    return {
      name,
      passwordHash: body.password_hash,
      ...(body.hashing_algorithm === undefined
        ? {}
        : { hashingAlgorithm: body.hashing_algorithm as HashingAlgorithm }),
      tags,
    };
  }
  // Neither: a new user gets no password (cannot log in with one); an existing one keeps its hash.
  return existing === undefined
    ? { name, passwordHash: '', tags }
    : { name, passwordHash: existing.passwordHash, hashingAlgorithm: existing.hashingAlgorithm, tags };
}

const bulkDeleteBody = z.object({ users: z.array(z.unknown()) }).loose();

export function registerUserRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const users = ctx.broker.users;
  app.get<{ Querystring: ListQuery }>('/api/users', async (request) =>
    applyListQuery(users.list().map(userJson), request.query),
  );
  app.get<{ Params: { name: string } }>('/api/users/:name', async (request) => {
    const u = users.get(request.params.name);
    if (u === undefined) throw notFound();
    return userJson(u);
  });
  app.put<{ Params: { name: string } }>('/api/users/:name', async (request, reply) => {
    const name = request.params.name;
    const body = parseBody(userPutBody, request.body);
    const existing = users.get(name);
    stored(() => users.put(userInput(name, body, existing)));
    await ctx.broker.flushDefinitions();
    return reply.code(existing === undefined ? 201 : 204).send();
  });
  app.delete<{ Params: { name: string } }>('/api/users/:name', async (request, reply) => {
    // Also closes the user's connections (320), as RabbitMQ does.
    if (!(await ctx.broker.deleteUser(request.params.name))) throw notFound();
    return reply.code(204).send();
  });
  // RabbitMQ deletes the listed users one by one and stops at the first that does not exist (the ones
  // before it stay deleted): 400 `["no_such_user", name]`. A `users` that is not a list is its 500; ours 400.
  app.post('/api/users/bulk-delete', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body) || !('users' in body)) {
      throw badRequest('[{key_missing,users}]');
    }
    const { users: names } = parseBody(bulkDeleteBody, body);
    for (const name of names) {
      if (typeof name !== 'string' || !(await ctx.broker.deleteUser(name))) {
        throw new AdminHttpError(400, 'bad_request', ['no_such_user', name]);
      }
    }
    return reply.code(204).send();
  });
  // Not a user's name: other methods are RabbitMQ's 405.
  app.route({
    method: ['GET', 'PUT', 'DELETE'],
    url: '/api/users/bulk-delete',
    handler: async (_request, reply) => reply.code(405).header('allow', 'POST, OPTIONS').send(),
  });
  app.get<{ Params: { name: string } }>('/api/users/:name/permissions', async (request) => {
    if (!users.has(request.params.name)) throw notFound();
    return ctx.broker.permissions.list({ user: request.params.name }).map(permissionJson);
  });
}

export function permissionJson(p: {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}) {
  return { user: p.user, vhost: p.vhost, configure: p.configure, write: p.write, read: p.read };
}
