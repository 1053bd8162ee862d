import { z } from 'zod';

/** Filters shared by the list endpoints: `?host=&since=&until=&limit=&cursor=`. */
export const listQuery = z.object({
  host: z.string().min(1).optional(),
  /** Epoch ms or an ISO date. */
  since: z
    .union([z.coerce.number().int().nonnegative(), z.iso.datetime().transform((s) => Date.parse(s))])
    .optional(),
  until: z
    .union([z.coerce.number().int().nonnegative(), z.iso.datetime().transform((s) => Date.parse(s))])
    .optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** Opaque: the `next` of the previous page. */
  cursor: z.coerce.number().int().nonnegative().optional(),
});

export type ListQuery = z.infer<typeof listQuery>;

export function zodMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}

export function inWindow(q: ListQuery, host: string, at: number): boolean {
  if (q.host !== undefined && q.host !== host) return false;
  if (q.since !== undefined && at < q.since) return false;
  if (q.until !== undefined && at > q.until) return false;
  return true;
}
