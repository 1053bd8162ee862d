import type { FastifyInstance } from 'fastify';
import type { ProxyContext } from '../proxy-context.js';
import type { AdminGuard } from './admin-auth.js';
import type { DeadLetterEntry } from './admin-store.js';
import { inWindow, listQuery, zodMessage } from './list-query.js';
import { editedCopy, parseJson, redriveBody, selection } from './redrive-body.js';

/** Most ids listed in a redrive answer; `count` has the total. */
const MAX_LISTED = 10_000;

function view(l: Pick<DeadLetterEntry, 'info' | 'request'>) {
  return {
    id: l.request.message.id,
    method: l.request.method,
    target: l.request.target,
    ...l.info,
    deadAt: new Date(l.info.deadAt).toISOString(),
    createdAt: new Date(l.request.message.createdAt).toISOString(),
    bodyBytes: l.request.message.body.length,
  };
}

/**
 * Inspect, redrive (optionally edited) and purge dead-lettered requests. An unknown id raises
 * `DSP_PROXY_NOT_FOUND`, which the proxy's error handler answers with 404 `not_found`.
 */
export function registerDeadLetterRoutes(app: FastifyInstance, ctx: ProxyContext, guard: AdminGuard): void {
  app.get('/_dispatcher/dead-letters', { onRequest: guard }, async (request, reply) => {
    const q = listQuery.safeParse(request.query);
    if (!q.success) return reply.code(400).send({ error: 'invalid_query', message: zodMessage(q.error) });
    const items = [];
    let next: number | undefined;
    const wanted = q.data.status;
    for await (const l of ctx.admin.deadLetters(q.data.cursor ?? 0)) {
      if (!inWindow(q.data, l.info.host, l.info.deadAt)) continue;
      if (wanted && !wanted.has(l.info.reason) && !wanted.has(String(l.info.lastStatus))) continue;
      if (items.length === q.data.limit) {
        next = l.cursor;
        break;
      }
      items.push(view(l));
    }
    // `total` counts every dead letter, whatever the filters.
    return { items, total: await ctx.admin.deadLetterCount(), ...(next === undefined ? {} : { next }) };
  });

  app.get<{ Params: { id: string } }>(
    '/_dispatcher/dead-letters/:id',
    { onRequest: guard },
    async (request) => {
      const l = await ctx.admin.deadLetter(request.params.id);
      return {
        ...view(l),
        headers: l.request.message.headers,
        bodyBase64: Buffer.from(l.request.message.body).toString('base64'),
      };
    },
  );

  app.post('/_dispatcher/dead-letters/redrive', { onRequest: guard }, async (request, reply) => {
    const parsed = redriveBody.safeParse(parseJson(request.body));
    if (!parsed.success)
      return reply.code(400).send({ error: 'invalid_body', message: zodMessage(parsed.error) });
    const { edit } = parsed.data;
    if (edit?.target) {
      const check = ctx.policy.checkUrl(new URL(edit.target));
      if (!check.ok) return reply.code(403).send({ error: 'destination_not_allowed', message: check.reason });
    }
    const redriven: Array<{ from: string; id: string }> = [];
    let count = 0;
    await ctx.admin.redrive(
      parsed.data,
      (old, now) => editedCopy(old, edit, now),
      (r) => {
        count++;
        if (redriven.length < MAX_LISTED) redriven.push(r);
      },
    );
    return { redriven, count, ...(count > redriven.length ? { truncated: true } : {}) };
  });

  app.post('/_dispatcher/dead-letters/purge', { onRequest: guard }, async (request, reply) => {
    const parsed = selection.safeParse(parseJson(request.body));
    if (!parsed.success)
      return reply.code(400).send({ error: 'invalid_body', message: zodMessage(parsed.error) });
    return { purged: await ctx.admin.purge(parsed.data) };
  });
}
