import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ProxyContext } from '../proxy-context.js';
import type { DeadLetter } from '../store/proxy-store.js';
import type { AdminGuard } from './admin-auth.js';
import { inWindow, listQuery, zodMessage } from './list-query.js';

const selection = z
  .object({
    ids: z.array(z.string().min(1)).min(1).max(10_000).optional(),
    all: z.literal(true).optional(),
    host: z.string().min(1).optional(),
    since: z.number().int().nonnegative().optional(),
    until: z.number().int().nonnegative().optional(),
  })
  .refine((s) => s.ids !== undefined || s.all === true, { message: 'give "ids" or "all": true' });

const redriveBody = selection.and(
  z.object({
    edit: z
      .object({
        /** Absolute URL replacing the target. */
        target: z.url({ protocol: /^https?$/ }).optional(),
        /** Headers to set; null removes one. */
        headers: z.record(z.string(), z.union([z.string(), z.null()])).optional(),
        body: z.string().optional(),
        bodyBase64: z.base64().optional(),
      })
      .refine((e) => e.body === undefined || e.bodyBase64 === undefined, {
        message: 'give body or bodyBase64, not both',
      })
      .optional(),
  }),
);

function view(l: DeadLetter) {
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

async function select(ctx: ProxyContext, s: z.infer<typeof selection>): Promise<DeadLetter[]> {
  if (s.ids) {
    const out: DeadLetter[] = [];
    for (const id of s.ids) {
      const seq = ctx.store.deadLetterSeq(id);
      if (seq !== undefined) out.push(await ctx.store.readDeadLetter(seq));
    }
    return out;
  }
  const q = { host: s.host, since: s.since, until: s.until, limit: 0 };
  const out: DeadLetter[] = [];
  for await (const l of ctx.store.deadLetters()) if (inWindow(q, l.info.host, l.info.deadAt)) out.push(l);
  return out;
}

/** Inspect, redrive (optionally edited) and purge dead-lettered requests. */
export function registerDeadLetterRoutes(app: FastifyInstance, ctx: ProxyContext, guard: AdminGuard): void {
  app.get('/_dispatcher/dead-letters', { preHandler: guard }, async (request, reply) => {
    const q = listQuery.safeParse(request.query);
    if (!q.success) return reply.code(400).send({ error: 'invalid_query', message: zodMessage(q.error) });
    const items = [];
    let next: number | undefined;
    for await (const l of ctx.store.deadLetters(q.data.cursor ?? 0)) {
      if (!inWindow(q.data, l.info.host, l.info.deadAt)) continue;
      if (items.length === q.data.limit) {
        next = l.seq;
        break;
      }
      items.push(view(l));
    }
    return { items, total: ctx.store.deadLetterCount, ...(next === undefined ? {} : { next }) };
  });

  app.get<{ Params: { id: string } }>(
    '/_dispatcher/dead-letters/:id',
    { preHandler: guard },
    async (request, reply) => {
      const seq = ctx.store.deadLetterSeq(request.params.id);
      if (seq === undefined)
        return reply.code(404).send({ error: 'not_found', message: `no dead letter ${request.params.id}` });
      const l = await ctx.store.readDeadLetter(seq);
      return {
        ...view(l),
        headers: l.request.message.headers,
        bodyBase64: Buffer.from(l.request.message.body).toString('base64'),
      };
    },
  );

  app.post('/_dispatcher/dead-letters/redrive', { preHandler: guard }, async (request, reply) => {
    const parsed = redriveBody.safeParse(parseJson(request.body));
    if (!parsed.success)
      return reply.code(400).send({ error: 'invalid_body', message: zodMessage(parsed.error) });
    const { edit } = parsed.data;
    if (edit?.target) {
      const check = ctx.policy.checkUrl(new URL(edit.target));
      if (!check.ok) return reply.code(403).send({ error: 'destination_not_allowed', message: check.reason });
    }
    const letters = await select(ctx, parsed.data);
    const now = Date.now();
    const redriven: Array<{ from: string; id: string }> = [];
    for (const l of letters) {
      const old = l.request;
      const headers = { ...old.message.headers };
      for (const [name, value] of Object.entries(edit?.headers ?? {})) {
        if (value === null) delete headers[name.toLowerCase()];
        else headers[name.toLowerCase()] = value;
      }
      const body =
        edit?.bodyBase64 !== undefined
          ? Buffer.from(edit.bodyBase64, 'base64')
          : edit?.body !== undefined
            ? Buffer.from(edit.body)
            : old.message.body;
      const id = await ctx.enqueue(
        (newId) => ({
          ...old,
          target: edit?.target ?? old.target,
          redrivenFrom: old.message.id,
          message: { id: newId, body, headers, attempt: 0, createdAt: now },
        }),
        now,
      );
      redriven.push({ from: old.message.id, id });
    }
    // The copies are durable in the main log before the dead letters go.
    await ctx.store.removeDeadLetters(letters);
    return { redriven };
  });

  app.post('/_dispatcher/dead-letters/purge', { preHandler: guard }, async (request, reply) => {
    const parsed = selection.safeParse(parseJson(request.body));
    if (!parsed.success)
      return reply.code(400).send({ error: 'invalid_body', message: zodMessage(parsed.error) });
    const letters = await select(ctx, parsed.data);
    await ctx.store.removeDeadLetters(letters);
    return { purged: letters.length };
  });
}

function parseJson(body: unknown): unknown {
  if (!Buffer.isBuffer(body) || body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
