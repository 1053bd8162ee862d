/** /api/connections[/{name}] (GET, DELETE closes with 320), /api/channels, /api/consumers[/{vhost}]. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isAdministrator, isMonitor, requestUser } from '../admin-access.js';
import type { AdminContext } from '../admin-context.js';
import { AdminHttpError, notFound } from '../admin-http-error.js';
import { vhostOr404 } from '../admin-route-helpers.js';
import { applyListQuery, type ListQuery } from '../list-query.js';
import { channelJson, connectionJson, consumerJson } from '../resource-json.js';

export function registerConnectionRoutes(app: FastifyInstance, ctx: AdminContext): void {
  // Monitoring users see every connection, management users only their own (as RabbitMQ).
  const connections = (request: FastifyRequest, vhost?: string) => {
    const user = requestUser(request);
    return ctx.broker
      .connections()
      .filter(
        (c) =>
          c.vhost !== undefined &&
          (vhost === undefined || c.vhost === vhost) &&
          (isMonitor(user) || c.user === user.name),
      );
  };
  app.get<{ Querystring: ListQuery }>('/api/connections', async (request) =>
    applyListQuery(
      connections(request).map((c) => connectionJson(ctx, c)),
      request.query,
    ),
  );
  app.get<{ Params: { vhost: string }; Querystring: ListQuery }>(
    '/api/vhosts/:vhost/connections',
    async (request) => {
      vhostOr404(ctx, request.params.vhost);
      return applyListQuery(
        connections(request, request.params.vhost).map((c) => connectionJson(ctx, c)),
        request.query,
      );
    },
  );
  const named = (request: FastifyRequest, name: string) => {
    const c = connections(request).find((x) => x.name === name);
    if (c === undefined) throw notFound();
    return c;
  };
  app.get<{ Params: { name: string } }>('/api/connections/:name', async (request) =>
    connectionJson(ctx, named(request, request.params.name)),
  );
  app.get<{ Params: { name: string } }>('/api/connections/:name/channels', async (request) => {
    const c = named(request, request.params.name);
    return c.channels.map((ch) => channelJson(ctx, c, ch));
  });
  app.delete<{ Params: { name: string } }>('/api/connections/:name', async (request, reply) => {
    const c = named(request, request.params.name);
    // RabbitMQ: a monitoring user sees every connection but closes only its own; administrators any.
    const user = requestUser(request);
    if (!isAdministrator(user) && c.user !== user.name) {
      throw new AdminHttpError(401, 'not_authorised', 'User not authorised to access object');
    }
    const header = request.headers['x-reason'];
    const reason = typeof header === 'string' && header !== '' ? header : 'Closed via management plugin';
    await ctx.broker.closeConnection(c.name, { reason });
    return reply.code(204).send();
  });
  app.get<{ Querystring: ListQuery }>('/api/channels', async (request) =>
    applyListQuery(
      connections(request).flatMap((c) => c.channels.map((ch) => channelJson(ctx, c, ch))),
      request.query,
    ),
  );
  const consumers = (request: FastifyRequest, vhost?: string) =>
    connections(request, vhost).flatMap((c) =>
      c.channels.flatMap((ch) => ch.consumers.map((x) => consumerJson(c, ch, x))),
    );
  app.get('/api/consumers', async (request) => consumers(request));
  app.get<{ Params: { vhost: string } }>('/api/consumers/:vhost', async (request) => {
    vhostOr404(ctx, request.params.vhost);
    return consumers(request, request.params.vhost);
  });
}
