/**
 * /api/bindings[/{vhost}] and /api/bindings/{vhost}/e/{source}/{q|e}/{destination}[/{props}]: list, create
 * (201 with a relative `Location` whose last segment is the new binding's `properties_key`, percent-encoded
 * once more, as RabbitMQ 3.10 answers and the Terraform provider parses), read and delete one.
 *
 * Binding and unbinding need write on the destination and read on the source exchange (plus the topic
 * permission of the routing key on a topic source), as in RabbitMQ (admin-resource-access.ts). A create
 * is checked before its ends are looked up (then RabbitMQ's 404 `no queue '…' in vhost '…'`); a delete
 * looks the binding up first.
 */
import type { FastifyInstance } from 'fastify';
import type { ResourceAccess } from '../../auth/resource-access.js';
import { Queue } from '../../queue/queue.js';
import { requestUser } from '../admin-access.js';
import type { AdminContext } from '../admin-context.js';
import { notFound } from '../admin-http-error.js';
import { resourceAccess, withChannel } from '../admin-resource-access.js';
import { ADMIN_OWNER, exchangeName, vhostOr404, vhostsFor } from '../admin-route-helpers.js';
import { bindingPropertiesKey } from '../binding-properties-key.js';
import { jsonToFieldTable } from '../field-json.js';
import { applyListQuery, type ListQuery } from '../list-query.js';
import { bindingPostBody, parseBody } from '../request-body.js';
import { vhostBindings } from '../resource-json.js';

type PairParams = { vhost: string; source: string; destination: string };
type OneParams = PairParams & { props: string };

export function registerBindingRoutes(app: FastifyInstance, ctx: AdminContext): void {
  app.get<{ Querystring: ListQuery }>('/api/bindings', async (request) =>
    applyListQuery(vhostsFor(ctx, undefined, requestUser(request)).flatMap(vhostBindings), request.query),
  );
  app.get<{ Params: { vhost: string }; Querystring: ListQuery }>('/api/bindings/:vhost', async (request) =>
    applyListQuery(
      vhostsFor(ctx, request.params.vhost, requestUser(request)).flatMap(vhostBindings),
      request.query,
    ),
  );

  for (const kind of ['q', 'e'] as const) {
    const destinationType = kind === 'q' ? 'queue' : 'exchange';
    const base = `/api/bindings/:vhost/e/:source/${kind}/:destination`;
    /** The pair's vhost after checking that both ends exist (RabbitMQ's 404 for reads and deletes). */
    const pair = (p: PairParams) => {
      const v = vhostOr404(ctx, p.vhost);
      const source = exchangeName(p.source);
      if (v.getExchange(source) === undefined) throw notFound();
      const exists =
        kind === 'q'
          ? v.getQueueIfExists(p.destination) !== undefined
          : v.getExchange(p.destination) !== undefined;
      if (!exists) throw notFound();
      return { v, source };
    };
    const between = (p: PairParams) => {
      const { v, source } = pair(p);
      return vhostBindings(v).filter(
        (b) =>
          b.source === source && b.destination === p.destination && b.destination_type === destinationType,
      );
    };
    /** The permission checks of binding or unbinding `routingKey` between the pair (the channel's order). */
    const checkBind = (access: ResourceAccess, p: PairParams, routingKey: string) => {
      access.check('write', destinationType, p.destination);
      const source = exchangeName(p.source);
      access.check('read', 'exchange', source);
      const x = ctx.broker.vhost(p.vhost)?.getExchange(source);
      if (x !== undefined) access.checkTopic('read', x.type, source, routingKey);
    };
    app.get<{ Params: PairParams }>(base, async (request) => between(request.params));
    app.post<{ Params: PairParams }>(base, async (request, reply) => {
      const v = vhostOr404(ctx, request.params.vhost);
      const source = exchangeName(request.params.source);
      const body = parseBody(bindingPostBody, request.body);
      const args = jsonToFieldTable(body.arguments);
      const dst = request.params.destination;
      const access = resourceAccess(ctx, request, v.name);
      withChannel(() => {
        checkBind(access, request.params, body.routing_key);
        if (kind === 'q') {
          const owner = v.getQueueIfExists(dst)?.owner ?? ADMIN_OWNER;
          v.bindQueue(dst, source, body.routing_key, args, owner);
        } else v.bindExchange(dst, source, body.routing_key, args);
      });
      const key = bindingPropertiesKey(body.routing_key, args);
      return reply
        .code(201)
        .header('location', `${encodeURIComponent(dst)}/${encodeURIComponent(key)}`)
        .send();
    });
    const one = (p: OneParams) => {
      const b = between(p).find((x) => x.properties_key === p.props);
      if (b === undefined) throw notFound();
      return b;
    };
    app.get<{ Params: OneParams }>(`${base}/:props`, async (request) => one(request.params));
    app.delete<{ Params: OneParams }>(`${base}/:props`, async (request, reply) => {
      const p = request.params;
      const { v, source } = pair(p);
      // The binding itself (its arguments keep their AMQP types; JSON would not).
      const x = v.getExchange(source);
      const found =
        x === undefined
          ? undefined
          : [...x.bindings()].find(
              (b) =>
                b.destination.name === p.destination &&
                b.destination instanceof Queue === (kind === 'q') &&
                bindingPropertiesKey(b.routingKey, b.arguments) === p.props,
            );
      if (found === undefined) throw notFound();
      const access = resourceAccess(ctx, request, v.name);
      withChannel(() => {
        checkBind(access, p, found.routingKey);
        if (kind === 'q') {
          const owner = v.getQueueIfExists(p.destination)?.owner ?? ADMIN_OWNER;
          v.unbindQueue(p.destination, source, found.routingKey, found.arguments, owner);
        } else v.unbindExchange(p.destination, source, found.routingKey, found.arguments);
      });
      return reply.code(204).send();
    });
  }
}
