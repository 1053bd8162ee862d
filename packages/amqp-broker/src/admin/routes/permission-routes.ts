/**
 * /api/permissions[/{vhost}/{user}] (GET; PUT creates 201 / updates 204; DELETE) and
 * /api/vhosts/{vhost}/permissions, administrators only, stored through the broker's PermissionStore.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AdminContext } from '../admin-context.js';
import { badRequest, notFound } from '../admin-http-error.js';
import { vhostOr404 } from '../admin-route-helpers.js';
import { applyListQuery, type ListQuery } from '../list-query.js';
import { permissionJson, stored } from './user-routes.js';

type Params = { vhost: string; user: string };

const KINDS = ['configure', 'write', 'read'] as const;
const permissionPutBody = z.looseObject({ configure: z.string(), write: z.string(), read: z.string() });

/** RabbitMQ's answer when keys are missing: `[{key_missing,write},{key_missing,read}]`. */
function parsePermission(body: unknown): z.output<typeof permissionPutBody> {
  const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const missing = KINDS.filter((k) => o[k] === undefined);
  if (missing.length > 0) throw badRequest(`[${missing.map((k) => `{key_missing,${k}}`).join(',')}]`);
  const result = permissionPutBody.safeParse(o);
  if (!result.success) throw badRequest('configure, write and read must be strings');
  return result.data;
}

export function registerPermissionRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const permissions = ctx.broker.permissions;
  app.get<{ Querystring: ListQuery }>('/api/permissions', async (request) =>
    applyListQuery(permissions.list().map(permissionJson), request.query),
  );
  app.get<{ Params: Params }>('/api/permissions/:vhost/:user', async (request) => {
    const p = permissions.get(request.params.user, request.params.vhost);
    if (p === undefined) throw notFound();
    return permissionJson(p);
  });
  app.put<{ Params: Params }>('/api/permissions/:vhost/:user', async (request, reply) => {
    const { vhost, user } = request.params;
    const body = parsePermission(request.body);
    if (ctx.broker.vhost(vhost) === undefined || !ctx.broker.users.has(user)) {
      throw badRequest('vhost_or_user_not_found');
    }
    const existed = permissions.get(user, vhost) !== undefined;
    stored(() =>
      permissions.put({ user, vhost, configure: body.configure, write: body.write, read: body.read }),
    );
    await ctx.broker.flushDefinitions();
    return reply.code(existed ? 204 : 201).send();
  });
  app.delete<{ Params: Params }>('/api/permissions/:vhost/:user', async (request, reply) => {
    if (!permissions.delete(request.params.user, request.params.vhost)) throw notFound();
    await ctx.broker.flushDefinitions();
    return reply.code(204).send();
  });
  app.get<{ Params: { vhost: string } }>('/api/vhosts/:vhost/permissions', async (request) => {
    const v = vhostOr404(ctx, request.params.vhost);
    return permissions.list({ vhost: v.name }).map(permissionJson);
  });
}
