import type { FastifyInstance } from 'fastify';
import { originOf } from '../delivery/delivery-engine.js';
import type { ProxyContext } from '../proxy-context.js';
import type { AdminGuard } from './admin-auth.js';
import type { PendingEntry } from './admin-store.js';
import { inWindow, listQuery, PENDING_STATUSES, zodMessage } from './list-query.js';

function describe({ request: req, attempt, delivering }: Omit<PendingEntry, 'cursor'>) {
  const now = Date.now();
  const status = delivering
    ? 'delivering'
    : attempt
      ? 'retrying'
      : req.message.notBefore !== undefined && req.message.notBefore > now
        ? 'scheduled'
        : 'pending';
  return {
    id: req.message.id,
    status,
    method: req.method,
    target: req.target,
    host: new URL(originOf(req.target)).host,
    createdAt: new Date(req.message.createdAt).toISOString(),
    attempts: attempt?.attempt ?? 0,
    ...(attempt ? { nextAttemptAt: new Date(attempt.nextAt).toISOString() } : {}),
    ...(attempt?.lastStatus === undefined ? {} : { lastStatus: attempt.lastStatus }),
    ...(attempt?.lastError === undefined ? {} : { lastError: attempt.lastError }),
    ...(req.message.notBefore === undefined
      ? {}
      : { notBefore: new Date(req.message.notBefore).toISOString() }),
    bodyBytes: req.message.body.length,
  };
}

/**
 * Status of one message by id, and a filtered listing of pending ones. An unknown id raises
 * `DSP_PROXY_NOT_FOUND`, which the proxy's error handler answers with 404 `not_found`.
 */
export function registerMessageRoutes(app: FastifyInstance, ctx: ProxyContext, guard: AdminGuard): void {
  app.get<{ Params: { id: string } }>('/_dispatcher/messages/:id', { onRequest: guard }, async (request) => {
    const { id } = request.params;
    const found = await ctx.admin.message(id);
    switch (found.status) {
      case 'pending':
        return describe(found);
      case 'dead-lettered':
        return {
          id,
          status: 'dead-lettered',
          target: found.letter.request.target,
          ...found.letter.info,
          deadAt: new Date(found.letter.info.deadAt).toISOString(),
        };
      case 'delivered':
        return {
          id,
          status: 'delivered',
          attempts: found.info.attempts,
          lastStatus: found.info.status,
          deliveredAt: new Date(found.info.at).toISOString(),
        };
    }
  });

  app.get('/_dispatcher/messages', { onRequest: guard }, async (request, reply) => {
    const q = listQuery.safeParse(request.query);
    if (!q.success) return reply.code(400).send({ error: 'invalid_query', message: zodMessage(q.error) });
    const wanted = q.data.status;
    const unknown = [...(wanted ?? [])].filter((s) => !(PENDING_STATUSES as readonly string[]).includes(s));
    if (unknown.length > 0)
      return reply.code(400).send({
        error: 'invalid_query',
        message: `status: unknown ${unknown.join(', ')} (one or more of ${PENDING_STATUSES.join(', ')})`,
      });
    const items = [];
    let next: number | undefined;
    for await (const entry of ctx.admin.pending(q.data.cursor ?? 0)) {
      const req = entry.request;
      if (!inWindow(q.data, new URL(originOf(req.target)).host, req.message.createdAt)) continue;
      const item = describe(entry);
      if (wanted && !wanted.has(item.status)) continue;
      if (items.length === q.data.limit) {
        next = entry.cursor;
        break;
      }
      items.push(item);
    }
    return { items, ...(next === undefined ? {} : { next }) };
  });
}
