/**
 * /api/topic-permissions[/{vhost}/{user}] (GET; PUT adds or replaces one exchange's entry, 201 when the
 * user had none on the vhost, else 204; DELETE removes the user's entries on the vhost),
 * /api/vhosts/{vhost}/topic-permissions and /api/users/{user}/topic-permissions, administrators only, as
 * RabbitMQ 3.10 answers them; stored through the broker's TopicPermissionStore.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { TopicPermission } from '../../auth/topic-permission-store.js';
import type { AdminContext } from '../admin-context.js';
import { badRequest, notFound } from '../admin-http-error.js';
import { vhostOr404 } from '../admin-route-helpers.js';
import { applyListQuery, type ListQuery } from '../list-query.js';
import { stored } from './user-routes.js';

type Params = { vhost: string; user: string };

const KEYS = ['exchange', 'write', 'read'] as const;
const topicPutBody = z.looseObject({ exchange: z.string(), write: z.string(), read: z.string() });

export function topicPermissionJson(p: TopicPermission) {
  return { user: p.user, vhost: p.vhost, exchange: p.exchange, write: p.write, read: p.read };
}

/** RabbitMQ's answer when keys are missing: `[{key_missing,exchange},{key_missing,read}]`. */
function parseTopicPermission(body: unknown): z.output<typeof topicPutBody> {
  const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const missing = KEYS.filter((k) => o[k] === undefined);
  if (missing.length > 0) throw badRequest(`[${missing.map((k) => `{key_missing,${k}}`).join(',')}]`);
  const result = topicPutBody.safeParse(o);
  if (!result.success) throw badRequest('exchange, write and read must be strings');
  return result.data;
}

export function registerTopicPermissionRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const topics = ctx.broker.topicPermissions;
  app.get<{ Querystring: ListQuery }>('/api/topic-permissions', async (request) =>
    applyListQuery(topics.list().map(topicPermissionJson), request.query),
  );
  app.get<{ Params: Params }>('/api/topic-permissions/:vhost/:user', async (request) => {
    const list = topics.list({ user: request.params.user, vhost: request.params.vhost });
    if (list.length === 0) throw notFound();
    return list.map(topicPermissionJson);
  });
  app.put<{ Params: Params }>('/api/topic-permissions/:vhost/:user', async (request, reply) => {
    const { vhost, user } = request.params;
    const body = parseTopicPermission(request.body);
    if (ctx.broker.vhost(vhost) === undefined || !ctx.broker.users.has(user)) {
      throw badRequest('vhost_or_user_not_found');
    }
    const existed = topics.list({ user, vhost }).length > 0;
    stored(() => topics.put({ user, vhost, exchange: body.exchange, write: body.write, read: body.read }));
    await ctx.broker.flushDefinitions();
    return reply.code(existed ? 204 : 201).send();
  });
  app.delete<{ Params: Params }>('/api/topic-permissions/:vhost/:user', async (request, reply) => {
    if (!topics.delete(request.params.user, request.params.vhost)) throw notFound();
    await ctx.broker.flushDefinitions();
    return reply.code(204).send();
  });
  app.get<{ Params: { vhost: string } }>('/api/vhosts/:vhost/topic-permissions', async (request) => {
    const v = vhostOr404(ctx, request.params.vhost);
    return topics.list({ vhost: v.name }).map(topicPermissionJson);
  });
  app.get<{ Params: { name: string } }>('/api/users/:name/topic-permissions', async (request) => {
    if (!ctx.broker.users.has(request.params.name)) throw notFound();
    return topics.list({ user: request.params.name }).map(topicPermissionJson);
  });
}
