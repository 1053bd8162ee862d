/**
 * /api/queues[/{vhost}[/{name}]] (GET, PUT, DELETE), DELETE …/contents (purge), POST …/get and
 * GET …/bindings. Declare and delete need configure on the queue, purge and get read, as in RabbitMQ
 * (admin-resource-access.ts); a missing queue is 404 before the check, except for get (checked first).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { queueDeclareChecks } from '../../auth/declare-checks.js';
import type { BasicProperties } from '../../codec/generated/amqp-spec.js';
import { AmqpError } from '../../errors.js';
import type { QueueEntry } from '../../queue/queue.js';
import { requestUser } from '../admin-access.js';
import type { AdminContext } from '../admin-context.js';
import { AdminHttpError, notFound } from '../admin-http-error.js';
import { resourceAccess, withChannel } from '../admin-resource-access.js';
import { ADMIN_OWNER, vhostOr404, vhostsFor } from '../admin-route-helpers.js';
import { fieldTableToJson, jsonToFieldTable } from '../field-json.js';
import { applyListQuery, type ListQuery, queryFlag } from '../list-query.js';
import { getBody, parseBody, queuePutBody } from '../request-body.js';
import { queueJson, vhostBindings } from '../resource-json.js';

type Params = { vhost: string; name: string };

const PROPERTY_NAMES: [keyof BasicProperties, string][] = [
  ['contentType', 'content_type'],
  ['contentEncoding', 'content_encoding'],
  ['headers', 'headers'],
  ['deliveryMode', 'delivery_mode'],
  ['priority', 'priority'],
  ['correlationId', 'correlation_id'],
  ['replyTo', 'reply_to'],
  ['expiration', 'expiration'],
  ['messageId', 'message_id'],
  ['timestamp', 'timestamp'],
  ['type', 'type'],
  ['userId', 'user_id'],
  ['appId', 'app_id'],
  ['clusterId', 'cluster_id'],
];

/** Properties as RabbitMQ's get endpoint shows them (`[]` when there are none, as RabbitMQ answers). */
function propertiesJson(p: BasicProperties): Record<string, unknown> | [] {
  const out: Record<string, unknown> = {};
  for (const [key, json] of PROPERTY_NAMES) {
    const v = p[key];
    if (v === undefined) continue;
    out[json] = key === 'headers' ? fieldTableToJson(p.headers) : v;
  }
  return Object.keys(out).length === 0 ? [] : out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function payloadJson(
  body: Buffer,
  encoding: 'auto' | 'base64',
): { payload: string; payload_encoding: string } {
  if (encoding === 'auto') {
    try {
      return { payload: utf8.decode(body), payload_encoding: 'string' };
    } catch {
      // Not text: base64 as RabbitMQ does.
    }
  }
  return { payload: body.toString('base64'), payload_encoding: 'base64' };
}

export function registerQueueRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const list = (request: FastifyRequest, vhost: string | undefined, query: ListQuery) =>
    applyListQuery(
      vhostsFor(ctx, vhost, requestUser(request)).flatMap((v) =>
        [...v.queues()].map((q) => queueJson(ctx, v, q)),
      ),
      query,
    );
  app.get<{ Querystring: ListQuery }>('/api/queues', async (request) =>
    list(request, undefined, request.query),
  );
  app.get<{ Params: { vhost: string }; Querystring: ListQuery }>('/api/queues/:vhost', async (request) =>
    list(request, request.params.vhost, request.query),
  );
  const queueOr404 = (params: Params) => {
    const v = vhostOr404(ctx, params.vhost);
    const q = v.getQueueIfExists(params.name);
    if (q === undefined) throw notFound();
    return { v, q };
  };
  app.get<{ Params: Params }>('/api/queues/:vhost/:name', async (request) => {
    const { v, q } = queueOr404(request.params);
    return queueJson(ctx, v, q);
  });
  app.put<{ Params: Params }>('/api/queues/:vhost/:name', async (request, reply) => {
    const v = vhostOr404(ctx, request.params.vhost);
    const body = parseBody(queuePutBody, request.body);
    const existed = v.getQueueIfExists(request.params.name) !== undefined;
    const access = queueDeclareChecks(resourceAccess(ctx, request, v.name));
    withChannel(() =>
      v.declareQueue(
        {
          name: request.params.name,
          access,
          passive: false,
          durable: body.durable,
          exclusive: false,
          autoDelete: body.auto_delete,
          arguments: jsonToFieldTable(body.arguments),
        },
        ADMIN_OWNER,
      ),
    );
    return reply.code(existed ? 204 : 201).send();
  });
  app.delete<{ Params: Params; Querystring: ListQuery }>(
    '/api/queues/:vhost/:name',
    async (request, reply) => {
      const { v, q } = queueOr404(request.params);
      const access = resourceAccess(ctx, request, v.name);
      withChannel(() => {
        access.check('configure', 'queue', q.name);
        v.deleteQueue(
          q.name,
          queryFlag(request.query['if-unused']),
          queryFlag(request.query['if-empty']),
          q.owner ?? ADMIN_OWNER,
        );
      });
      return reply.code(204).send();
    },
  );
  app.delete<{ Params: Params }>('/api/queues/:vhost/:name/contents', async (request, reply) => {
    const { v, q } = queueOr404(request.params);
    const access = resourceAccess(ctx, request, v.name);
    withChannel(() => access.check('read', 'queue', q.name));
    q.purge();
    return reply.code(204).send();
  });
  app.get<{ Params: Params }>('/api/queues/:vhost/:name/bindings', async (request) => {
    const { v, q } = queueOr404(request.params);
    return vhostBindings(v).filter((b) => b.destination_type === 'queue' && b.destination === q.name);
  });
  app.post<{ Params: Params }>('/api/queues/:vhost/:name/get', async (request) => {
    const v = vhostOr404(ctx, request.params.vhost);
    const body = parseBody(getBody, request.body);
    // RabbitMQ answers get's refusal and missing queue with the AMQP texts (401 and 404).
    try {
      resourceAccess(ctx, request, v.name).check('read', 'queue', request.params.name);
    } catch (err) {
      if (err instanceof AmqpError)
        throw new AdminHttpError(401, 'not_authorised', `ACCESS_REFUSED - ${err.message}`);
      throw err;
    }
    const q = v.getQueueIfExists(request.params.name);
    if (q === undefined) {
      throw new AdminHttpError(
        404,
        'not_found',
        `NOT_FOUND - no queue '${request.params.name}' in vhost '${v.name}'`,
      );
    }
    const taken: QueueEntry[] = [];
    const out: Record<string, unknown>[] = [];
    // ack_requeue_false is a no-ack get (RabbitMQ counts it as get_no_ack, not as an ack).
    const noAck = body.ackmode === 'ack_requeue_false';
    for (let i = 0; i < body.count; i++) {
      const entry = q.shift(noAck);
      if (entry === undefined) break;
      if (!noAck) {
        q.unacked++;
        taken.push(entry);
      }
      const m = entry.message;
      const bytes = body.truncate !== undefined ? m.body.subarray(0, body.truncate) : m.body;
      out.push({
        payload_bytes: m.body.length,
        redelivered: entry.redelivered,
        exchange: m.exchange,
        routing_key: m.routingKey,
        message_count: q.messageCount,
        properties: propertiesJson(m.properties),
        ...payloadJson(bytes, body.encoding),
      });
    }
    switch (body.ackmode) {
      case 'ack_requeue_true':
      case 'reject_requeue_true':
        if (taken.length > 0) q.requeue(taken);
        break;
      case 'ack_requeue_false':
        break;
      case 'reject_requeue_false':
        for (const e of taken) q.reject(e);
        break;
    }
    return out;
  });
}
