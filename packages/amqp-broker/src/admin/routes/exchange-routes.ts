/**
 * /api/exchanges[/{vhost}[/{name}]] (GET, PUT, DELETE), POST …/publish and the exchange's binding
 * listings (…/bindings/source, …/bindings/destination). Declare and delete need configure on the
 * exchange, publish write (and the topic permission of its routing key on a topic exchange), as in
 * RabbitMQ (admin-resource-access.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { exchangeDeclareChecks } from '../../auth/declare-checks.js';
import { ByteWriter } from '../../codec/byte-writer.js';
import { type BasicProperties, encodeBasicProperties } from '../../codec/generated/amqp-spec.js';
import { AmqpError } from '../../errors.js';
import { isExchangeType } from '../../exchange/create-exchange.js';
import { Message } from '../../queue/message.js';
import { requestUser } from '../admin-access.js';
import type { AdminContext } from '../admin-context.js';
import { AdminHttpError, badRequest, notFound } from '../admin-http-error.js';
import { resourceAccess, withChannel } from '../admin-resource-access.js';
import { exchangeName, vhostOr404, vhostsFor } from '../admin-route-helpers.js';
import { jsonToFieldTable } from '../field-json.js';
import { applyListQuery, type ListQuery, queryFlag } from '../list-query.js';
import { exchangePutBody, parseBody, publishBody } from '../request-body.js';
import { exchangeJson, vhostBindings } from '../resource-json.js';

type Params = { vhost: string; name: string };

const REPLY_NAMES: Record<number, string> = {
  403: 'ACCESS_REFUSED',
  404: 'NOT_FOUND',
  405: 'RESOURCE_LOCKED',
  406: 'PRECONDITION_FAILED',
};

/** Basic properties from the JSON RabbitMQ's publish endpoint takes. */
function propertiesFromJson(p: Record<string, unknown>): BasicProperties {
  const out: BasicProperties = {};
  const s = (key: string): string | undefined =>
    typeof p[key] === 'string' ? (p[key] as string) : undefined;
  const n = (key: string): number | undefined => {
    const v = p[key];
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
    return undefined;
  };
  const set = <K extends keyof BasicProperties>(key: K, v: BasicProperties[K] | undefined): void => {
    if (v !== undefined) out[key] = v;
  };
  set('contentType', s('content_type'));
  set('contentEncoding', s('content_encoding'));
  if (p.headers !== undefined && typeof p.headers === 'object' && p.headers !== null) {
    out.headers = jsonToFieldTable(p.headers as Record<string, unknown>);
  }
  set('deliveryMode', n('delivery_mode'));
  set('priority', n('priority'));
  set('correlationId', s('correlation_id'));
  set('replyTo', s('reply_to'));
  set('expiration', s('expiration'));
  set('messageId', s('message_id'));
  set('timestamp', n('timestamp'));
  set('type', s('type'));
  set('userId', s('user_id'));
  set('appId', s('app_id'));
  set('clusterId', s('cluster_id'));
  return out;
}

export function registerExchangeRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const list = (request: FastifyRequest, vhost: string | undefined, query: ListQuery) =>
    applyListQuery(
      vhostsFor(ctx, vhost, requestUser(request)).flatMap((v) =>
        [...v.exchanges()].map((x) => exchangeJson(ctx, v, x)),
      ),
      query,
    );
  app.get<{ Querystring: ListQuery }>('/api/exchanges', async (request) =>
    list(request, undefined, request.query),
  );
  app.get<{ Params: { vhost: string }; Querystring: ListQuery }>('/api/exchanges/:vhost', async (request) =>
    list(request, request.params.vhost, request.query),
  );
  app.get<{ Params: Params }>('/api/exchanges/:vhost/:name', async (request) => {
    const v = vhostOr404(ctx, request.params.vhost);
    const x = v.getExchange(exchangeName(request.params.name));
    if (x === undefined) throw notFound();
    return exchangeJson(ctx, v, x);
  });
  app.put<{ Params: Params }>('/api/exchanges/:vhost/:name', async (request, reply) => {
    const v = vhostOr404(ctx, request.params.vhost);
    const body = parseBody(exchangePutBody, request.body);
    // RabbitMQ checks the type first. It says "invalid exchange type" only for a name that happens to be an
    // existing Erlang atom of its node; any other unknown name is "unknown exchange type", as here.
    if (!isExchangeType(body.type)) throw badRequest(`unknown exchange type '${body.type}'`);
    const name = exchangeName(request.params.name);
    const existed = v.getExchange(name) !== undefined;
    const access = exchangeDeclareChecks(resourceAccess(ctx, request, v.name));
    withChannel(() =>
      v.declareExchange({
        name,
        access,
        type: body.type,
        passive: false,
        durable: body.durable,
        autoDelete: body.auto_delete,
        internal: body.internal,
        arguments: jsonToFieldTable(body.arguments),
      }),
    );
    return reply.code(existed ? 204 : 201).send();
  });
  app.delete<{ Params: Params; Querystring: ListQuery }>(
    '/api/exchanges/:vhost/:name',
    async (request, reply) => {
      const v = vhostOr404(ctx, request.params.vhost);
      const name = exchangeName(request.params.name);
      if (v.getExchange(name) === undefined) throw notFound();
      const access = resourceAccess(ctx, request, v.name);
      withChannel(() => {
        access.check('configure', 'exchange', name);
        v.deleteExchange(name, queryFlag(request.query['if-unused']));
      });
      return reply.code(204).send();
    },
  );
  const bindingsOf = (request: { params: Params }, side: 'source' | 'destination') => {
    const v = vhostOr404(ctx, request.params.vhost);
    const name = exchangeName(request.params.name);
    if (v.getExchange(name) === undefined) throw notFound();
    return vhostBindings(v).filter(
      (b) => b[side] === name && (side === 'source' || b.destination_type === 'exchange'),
    );
  };
  app.get<{ Params: Params }>('/api/exchanges/:vhost/:name/bindings/source', async (request) =>
    bindingsOf(request, 'source'),
  );
  app.get<{ Params: Params }>('/api/exchanges/:vhost/:name/bindings/destination', async (request) =>
    bindingsOf(request, 'destination'),
  );
  app.post<{ Params: Params }>('/api/exchanges/:vhost/:name/publish', async (request) => {
    const v = vhostOr404(ctx, request.params.vhost);
    const body = parseBody(publishBody, request.body);
    const name = exchangeName(request.params.name);
    // RabbitMQ checks before looking the exchange up: a refused publish to a missing one is the 403.
    const access = resourceAccess(ctx, request, v.name);
    publishing(() => {
      access.check('write', 'exchange', name);
      const x = v.getExchange(name);
      if (x !== undefined) access.checkTopic('write', x.type, name, body.routing_key);
    });
    const payload =
      body.payload_encoding === 'base64' ? Buffer.from(body.payload, 'base64') : Buffer.from(body.payload);
    const props = Array.isArray(body.properties) ? {} : propertiesFromJson(body.properties);
    const w = new ByteWriter(256);
    try {
      encodeBasicProperties(w, props);
    } catch (err) {
      throw badRequest(`invalid properties: ${(err as Error).message}`);
    }
    const raw = w.toBuffer();
    const message = new Message(name, body.routing_key, raw, payload, false, props);
    return { routed: publishing(() => v.publish(name, body.routing_key, message)) > 0 };
  });
}

/** Runs part of a publish, answering its AMQP errors as RabbitMQ's publish endpoint does (400 with the code). */
function publishing<T>(op: () => T): T {
  try {
    return op();
  } catch (err) {
    if (err instanceof AmqpError) {
      throw new AdminHttpError(
        400,
        'bad_request',
        `${err.replyCode} ${REPLY_NAMES[err.replyCode] ?? 'ERROR'} - ${err.message}`,
      );
    }
    throw err;
  }
}
