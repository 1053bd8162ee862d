import type { FastifyInstance } from 'fastify';
import { originOf } from '../delivery/delivery-engine.js';
import type { ProxyContext } from '../proxy-context.js';
import type { PgStore } from '../store/pg/pg-store.js';
import type { AdminGuard } from './admin-auth.js';
import { editedCopy, parseJson, redriveBody, selection, view } from './dead-letter-routes.js';
import { inWindow, listQuery, PENDING_STATUSES, zodMessage } from './list-query.js';

const CHUNK = 256;

/**
 * The admin API over the PostgreSQL store: message look-up and listing, dead letters, redrive (with edits)
 * and purge, answered the same from any instance of the fleet. Cursors are row ids.
 */
export function registerPgAdminRoutes(
  app: FastifyInstance,
  ctx: ProxyContext,
  guard: AdminGuard,
  pg: PgStore,
): void {
  app.get<{ Params: { id: string } }>(
    '/_dispatcher/messages/:id',
    { onRequest: guard },
    async (request, reply) => {
      const { id } = request.params;
      const found = await pg.lookup(id);
      if (!found)
        return reply.code(404).send({
          error: 'not_found',
          message: `no pending, dead-lettered or recently delivered message ${id}`,
        });
      if (found.status === 'dead-lettered')
        return {
          id,
          status: 'dead-lettered',
          target: found.letter.request.target,
          ...found.letter.info,
          deadAt: new Date(found.letter.info.deadAt).toISOString(),
        };
      if (found.status === 'delivered') {
        const info = found.info as { at: number; attempts: number; status?: number };
        return {
          id,
          status: 'delivered',
          attempts: info.attempts,
          lastStatus: info.status,
          deliveredAt: new Date(info.at).toISOString(),
        };
      }
      return describe(found.request, found.attempt, found.leased);
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
    let cursor: string | undefined = q.data.cursor === undefined ? undefined : String(q.data.cursor);
    let next: string | undefined;
    scan: for (;;) {
      const rows = await pg.pending(cursor, CHUNK);
      for (const r of rows) {
        const host = new URL(originOf(r.request.target)).host;
        if (!inWindow(q.data, host, r.request.message.createdAt)) continue;
        const item = describe(r.request, r.attempt, r.leased);
        if (wanted && !wanted.has(item.status)) continue;
        if (items.length === q.data.limit) {
          next = r.cursor;
          break scan;
        }
        items.push(item);
      }
      if (rows.length < CHUNK) break;
      cursor = rows.at(-1)?.cursor;
    }
    return { items, ...(next === undefined ? {} : { next: Number(next) }) };
  });

  app.get('/_dispatcher/dead-letters', { onRequest: guard }, async (request, reply) => {
    const q = listQuery.safeParse(request.query);
    if (!q.success) return reply.code(400).send({ error: 'invalid_query', message: zodMessage(q.error) });
    const wanted = q.data.status;
    const items = [];
    let cursor: string | undefined = q.data.cursor === undefined ? undefined : String(q.data.cursor);
    let next: string | undefined;
    scan: for (;;) {
      const rows = await pg.deadLetters(cursor, CHUNK);
      for (const l of rows) {
        if (!inWindow(q.data, l.info.host, l.info.deadAt)) continue;
        if (wanted && !wanted.has(l.info.reason) && !wanted.has(String(l.info.lastStatus))) continue;
        if (items.length === q.data.limit) {
          next = l.cursor;
          break scan;
        }
        items.push(view(l));
      }
      if (rows.length < CHUNK) break;
      cursor = rows.at(-1)?.cursor;
    }
    return {
      items,
      total: await pg.deadLetterCount(),
      ...(next === undefined ? {} : { next: Number(next) }),
    };
  });

  app.get<{ Params: { id: string } }>(
    '/_dispatcher/dead-letters/:id',
    { onRequest: guard },
    async (request, reply) => {
      const l = await pg.readDeadLetter(request.params.id);
      if (!l)
        return reply.code(404).send({ error: 'not_found', message: `no dead letter ${request.params.id}` });
      return {
        ...view(l),
        headers: l.request.message.headers,
        bodyBase64: Buffer.from(l.request.message.body).toString('base64'),
      };
    },
  );

  /** Row ids of the selected letters (those that exist when the request begins). */
  async function selected(s: {
    ids?: string[] | undefined;
    host?: string | undefined;
    since?: number | undefined;
    until?: number | undefined;
  }): Promise<string[]> {
    const out: string[] = [];
    if (s.ids) {
      for (const id of new Set(s.ids)) {
        const l = await pg.readDeadLetter(id);
        if (l) out.push(l.id);
      }
      return out;
    }
    let cursor: string | undefined;
    for (;;) {
      const rows = await pg.deadLetters(cursor, CHUNK);
      for (const l of rows) if (inWindow(s, l.info.host, l.info.deadAt)) out.push(l.id);
      if (rows.length < CHUNK) return out;
      cursor = rows.at(-1)?.cursor;
    }
  }

  app.post('/_dispatcher/dead-letters/redrive', { onRequest: guard }, async (request, reply) => {
    const parsed = redriveBody.safeParse(parseJson(request.body));
    if (!parsed.success)
      return reply.code(400).send({ error: 'invalid_body', message: zodMessage(parsed.error) });
    const { edit } = parsed.data;
    if (edit?.target) {
      const check = ctx.policy.checkUrl(new URL(edit.target));
      if (!check.ok) return reply.code(403).send({ error: 'destination_not_allowed', message: check.reason });
    }
    const now = Date.now();
    const rows = await selected(parsed.data);
    const redriven: Array<{ from: string; id: string }> = [];
    // Each chunk in one transaction: the letters go as their copies are stored (a letter another instance
    // redrove meanwhile is not there to delete, and is not copied twice).
    for (let i = 0; i < rows.length; i += CHUNK) {
      const ids = await pg.redrive(rows.slice(i, i + CHUNK), (r) => editedCopy(r, edit, now));
      for (const id of ids) redriven.push({ from: id, id });
    }
    return { redriven, count: redriven.length };
  });

  app.post('/_dispatcher/dead-letters/purge', { onRequest: guard }, async (request, reply) => {
    const parsed = selection.safeParse(parseJson(request.body));
    if (!parsed.success)
      return reply.code(400).send({ error: 'invalid_body', message: zodMessage(parsed.error) });
    const rows = await selected(parsed.data);
    let purged = 0;
    for (let i = 0; i < rows.length; i += CHUNK)
      purged += await pg.purgeDeadLetters(rows.slice(i, i + CHUNK));
    return { purged };
  });
}

function describe(
  req: import('../stored-request.js').StoredRequest,
  attempt: import('../store/record-types.js').AttemptState | undefined,
  leased: boolean,
) {
  const now = Date.now();
  const status = leased
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
