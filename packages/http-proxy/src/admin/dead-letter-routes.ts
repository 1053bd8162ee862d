import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DROPPED_HEADERS } from '../ingest/forward-headers.js';
import type { ProxyContext } from '../proxy-context.js';
import type { DeadLetter } from '../store/proxy-store.js';
import type { StoredRequest } from '../stored-request.js';
import type { AdminGuard } from './admin-auth.js';
import { inWindow, listQuery, zodMessage } from './list-query.js';

export const selection = z
  .object({
    ids: z.array(z.string().min(1)).min(1).max(10_000).optional(),
    all: z.literal(true).optional(),
    host: z.string().min(1).optional(),
    since: z.number().int().nonnegative().optional(),
    until: z.number().int().nonnegative().optional(),
  })
  .refine((s) => s.ids !== undefined || s.all === true, { message: 'give "ids" or "all": true' });

export const redriveBody = selection.and(
  z.object({
    edit: z
      .object({
        /** Absolute URL replacing the target. */
        target: z.url({ protocol: /^https?$/ }).optional(),
        /** Headers to set; null removes one. */
        headers: z
          .record(z.string(), z.union([z.string(), z.null()]))
          .superRefine((headers, ctx) => {
            for (const [name, value] of Object.entries(headers)) {
              const problem = headerProblem(name, value);
              if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
            }
          })
          .optional(),
        body: z.string().optional(),
        bodyBase64: z.base64().optional(),
      })
      .refine((e) => e.body === undefined || e.bodyBase64 === undefined, {
        message: 'give body or bodyBase64, not both',
      })
      .optional(),
  }),
);

export function view(l: Pick<DeadLetter, 'info' | 'request'>) {
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

/** Headers the proxy sets itself, or that would make the stored request undeliverable. */
function headerProblem(name: string, value: string | null): string | undefined {
  const lower = name.toLowerCase();
  try {
    validateHeaderName(name);
    if (value !== null) validateHeaderValue(name, value);
  } catch (err) {
    return (err as Error).message;
  }
  if (DROPPED_HEADERS.has(lower)) return 'is hop-by-hop or set at delivery, and cannot be edited';
  if (lower.startsWith('x-dispatcher-') || lower.startsWith('webhook-')) return 'is reserved for the proxy';
  return undefined;
}

/** Letters handled per step: bodies live in the log, so a redrive of everything never holds them all. */
const CHUNK = 256;
/** Most ids listed in a redrive answer; `count` has the total. */
const MAX_LISTED = 10_000;

/**
 * The selected dead letters, a chunk at a time. Each chunk is handled (and removed) before the next is
 * read, so memory stays bounded; letters removed meanwhile by another request are skipped.
 */
async function* selectChunks(ctx: ProxyContext, s: z.infer<typeof selection>): AsyncGenerator<DeadLetter[]> {
  if (s.ids) {
    let chunk: DeadLetter[] = [];
    // An id listed twice is one letter: it must not be copied twice.
    for (const id of new Set(s.ids)) {
      const seq = await ctx.store.findDeadLetter(id);
      if (seq === undefined) continue;
      chunk.push(await ctx.store.readDeadLetter(seq));
      if (chunk.length === CHUNK) {
        yield chunk;
        chunk = [];
      }
    }
    if (chunk.length > 0) yield chunk;
    return;
  }
  const q = { host: s.host, since: s.since, until: s.until, limit: 0 };
  // Only letters that existed when the request began: a redriven copy that fails again is dead-lettered
  // behind the cursor, and must not be picked up (and copied again) by a later chunk of the same request.
  const end = ctx.store.dead.nextSeq;
  let from = 0;
  for (;;) {
    const chunk: DeadLetter[] = [];
    let more = false;
    for await (const l of ctx.store.deadLetters(from)) {
      if (l.seq >= end) break;
      if (!inWindow(q, l.info.host, l.info.deadAt)) continue;
      if (chunk.length === CHUNK) {
        more = true;
        break;
      }
      chunk.push(l);
    }
    if (chunk.length > 0) yield chunk;
    if (!more) return;
    from = (chunk.at(-1)?.seq ?? from) + 1;
  }
}

/**
 * Redrive and purge run one at a time: two concurrent redrives of the same letters would otherwise both
 * copy them.
 */
function serialized(): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return (task) => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
}

export type Edit = z.infer<typeof redriveBody>['edit'];

/**
 * The new request a redrive stores for a dead letter, with the edits applied. It keeps the letter's message
 * id (receivers de-duplicate on it, and on the `webhook-id` derived from it), so its new record's seq is not
 * the one in its id; `redriveOf` names the letter, so recovery can finish the redrive after a crash.
 */
function redriveCopy(l: DeadLetter, edit: Edit, now: number): StoredRequest {
  return { ...editedCopy(l.request, edit, now), redriveOf: l.seq };
}

/** A dead letter's request with a redrive's edits applied; same message id, attempt count reset. */
export function editedCopy(old: StoredRequest, edit: Edit, now: number): StoredRequest {
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
  return {
    ...old,
    target: edit?.target ?? old.target,
    redrivenFrom: old.message.id,
    message: { id: old.message.id, body, headers, attempt: 0, createdAt: now },
  };
}

/** Inspect, redrive (optionally edited) and purge dead-lettered requests. */
export function registerDeadLetterRoutes(app: FastifyInstance, ctx: ProxyContext, guard: AdminGuard): void {
  const exclusive = serialized();
  app.get('/_dispatcher/dead-letters', { onRequest: guard }, async (request, reply) => {
    const q = listQuery.safeParse(request.query);
    if (!q.success) return reply.code(400).send({ error: 'invalid_query', message: zodMessage(q.error) });
    const items = [];
    let next: number | undefined;
    const wanted = q.data.status;
    for await (const l of ctx.store.deadLetters(q.data.cursor ?? 0)) {
      if (!inWindow(q.data, l.info.host, l.info.deadAt)) continue;
      if (wanted && !wanted.has(l.info.reason) && !wanted.has(String(l.info.lastStatus))) continue;
      if (items.length === q.data.limit) {
        next = l.seq;
        break;
      }
      items.push(view(l));
    }
    // `total` counts every dead letter, whatever the filters.
    return { items, total: ctx.store.deadLetterCount, ...(next === undefined ? {} : { next }) };
  });

  app.get<{ Params: { id: string } }>(
    '/_dispatcher/dead-letters/:id',
    { onRequest: guard },
    async (request, reply) => {
      const seq = await ctx.store.findDeadLetter(request.params.id);
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

  app.post('/_dispatcher/dead-letters/redrive', { onRequest: guard }, async (request, reply) => {
    const parsed = redriveBody.safeParse(parseJson(request.body));
    if (!parsed.success)
      return reply.code(400).send({ error: 'invalid_body', message: zodMessage(parsed.error) });
    const { edit } = parsed.data;
    if (edit?.target) {
      const check = ctx.policy.checkUrl(new URL(edit.target));
      if (!check.ok) return reply.code(403).send({ error: 'destination_not_allowed', message: check.reason });
    }
    return exclusive(async () => {
      const now = Date.now();
      const redriven: Array<{ from: string; id: string }> = [];
      let count = 0;
      for await (const letters of selectChunks(ctx, parsed.data)) {
        // Another request may have redriven or purged some of them since they were read.
        const current = letters.filter((l) => ctx.store.dead.has(l.seq));
        for (const l of current) {
          const { id } = await ctx.enqueue(() => redriveCopy(l, edit, now), now);
          count++;
          if (redriven.length < MAX_LISTED) redriven.push({ from: l.request.message.id, id });
        }
        // The copies are durable in the main log before the dead letters go.
        await ctx.store.removeDeadLetters(current);
      }
      return { redriven, count, ...(count > redriven.length ? { truncated: true } : {}) };
    });
  });

  app.post('/_dispatcher/dead-letters/purge', { onRequest: guard }, async (request, reply) => {
    const parsed = selection.safeParse(parseJson(request.body));
    if (!parsed.success)
      return reply.code(400).send({ error: 'invalid_body', message: zodMessage(parsed.error) });
    return exclusive(async () => {
      let purged = 0;
      for await (const letters of selectChunks(ctx, parsed.data)) {
        const current = letters.filter((l) => ctx.store.dead.has(l.seq));
        await ctx.store.removeDeadLetters(current);
        purged += current.length;
      }
      return { purged };
    });
  });
}

export function parseJson(body: unknown): unknown {
  if (!Buffer.isBuffer(body) || body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
