import type { FastifyInstance } from 'fastify';
import { originOf } from '../delivery/delivery-engine.js';
import type { ProxyContext } from '../proxy-context.js';
import { MainRecord } from '../store/record-types.js';
import { decodeStoredRequest, type StoredRequest } from '../stored-request.js';
import type { AdminGuard } from './admin-auth.js';
import { inWindow, listQuery, PENDING_STATUSES, zodMessage } from './list-query.js';

function describe(ctx: ProxyContext, seq: number, req: StoredRequest) {
  const attempt = ctx.store.attemptState(seq);
  const now = Date.now();
  const status = ctx.engine.isInflight(seq)
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

/** Status of one message by id, and a filtered listing of pending ones. */
export function registerMessageRoutes(app: FastifyInstance, ctx: ProxyContext, guard: AdminGuard): void {
  app.get<{ Params: { id: string } }>(
    '/_dispatcher/messages/:id',
    { onRequest: guard },
    async (request, reply) => {
      const { id } = request.params;
      const seq = ctx.store.seqOf(id);
      if (seq !== undefined && ctx.store.main.has(seq)) {
        const rec = await ctx.store.main.read(seq);
        if (rec.type === MainRecord.Request) {
          const req = decodeStoredRequest(rec.body);
          if (req.message.id === id) return describe(ctx, seq, req);
        }
      }
      const deadSeq = await ctx.store.findDeadLetter(id);
      if (deadSeq !== undefined) {
        const dead = await ctx.store.readDeadLetter(deadSeq);
        return {
          id,
          status: 'dead-lettered',
          target: dead.request.target,
          ...dead.info,
          deadAt: new Date(dead.info.deadAt).toISOString(),
        };
      }
      const delivered = ctx.store.journal.deliveredInfo(id);
      if (delivered)
        return {
          id,
          status: 'delivered',
          attempts: delivered.attempts,
          lastStatus: delivered.status,
          deliveredAt: new Date(delivered.at).toISOString(),
        };
      return reply.code(404).send({
        error: 'not_found',
        message: `no pending, dead-lettered or recently delivered message ${id}`,
      });
    },
  );

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
    for await (const rec of ctx.store.main.live({ fromSeq: q.data.cursor ?? 0 })) {
      if (rec.type !== MainRecord.Request) continue;
      const req = decodeStoredRequest(rec.body);
      if (!inWindow(q.data, new URL(originOf(req.target)).host, req.message.createdAt)) continue;
      const item = describe(ctx, rec.seq, req);
      if (wanted && !wanted.has(item.status)) continue;
      if (items.length === q.data.limit) {
        next = rec.seq;
        break;
      }
      items.push(item);
    }
    return { items, ...(next === undefined ? {} : { next }) };
  });
}
