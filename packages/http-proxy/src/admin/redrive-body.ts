import { validateHeaderName, validateHeaderValue } from 'node:http';
import { z } from 'zod';
import { DROPPED_HEADERS } from '../ingest/forward-headers.js';
import type { StoredRequest } from '../store/stored-request.js';

/** Which dead letters a redrive or purge takes: listed ids, or all of them within the filters. */
export const selection = z
  .object({
    ids: z.array(z.string().min(1)).min(1).max(10_000).optional(),
    all: z.literal(true).optional(),
    host: z.string().min(1).optional(),
    since: z.number().int().nonnegative().optional(),
    until: z.number().int().nonnegative().optional(),
  })
  .refine((s) => s.ids !== undefined || s.all === true, { message: 'give "ids" or "all": true' });

export type Selection = z.infer<typeof selection>;

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

export type Edit = z.infer<typeof redriveBody>['edit'];

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

export function parseJson(body: unknown): unknown {
  if (!Buffer.isBuffer(body) || body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
