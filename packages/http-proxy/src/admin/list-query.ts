import { z } from 'zod';

/** Filters shared by the list endpoints: `?host=&since=&until=&status=&limit=&cursor=`. */
export const listQuery = z.object({
  host: z.string().min(1).optional(),
  /**
   * Comma-separated. Pending messages: `pending`, `scheduled`, `retrying`, `delivering`. Dead letters: the
   * last HTTP status (`404`) or the reason (`retries-exhausted`, `status-404`, `not-retryable-error`…).
   */
  status: z
    .string()
    .min(1)
    .transform((v) => new Set(v.split(',').map((s) => s.trim())))
    .optional(),
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

/** Statuses a pending message can have (see `describe` in message-routes.ts). */
export const PENDING_STATUSES = ['pending', 'scheduled', 'retrying', 'delivering'] as const;

export function inWindow(q: Pick<ListQuery, 'host' | 'since' | 'until'>, host: string, at: number): boolean {
  if (q.host !== undefined && q.host !== host) return false;
  if (q.since !== undefined && at < q.since) return false;
  if (q.until !== undefined && at > q.until) return false;
  return true;
}
