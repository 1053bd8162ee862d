/**
 * Request bodies of the management API, validated with zod. Booleans may come as strings (`"true"`), as
 * rabbitmqadmin sends them; a value that is neither is refused the way RabbitMQ refuses it.
 */
import { z } from 'zod';
import { AdminHttpError } from './admin-http-error.js';

const boolish = z.union([z.boolean(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  ctx.addIssue({ code: 'custom', message: `not_boolean: ${v}` });
  return z.NEVER;
});

const args = z.record(z.string(), z.unknown());
const integerish = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);

export const queuePutBody = z.looseObject({
  durable: boolish.default(true),
  auto_delete: boolish.default(false),
  arguments: args.default({}),
});

export const exchangePutBody = z.looseObject({
  type: z.string().default('direct'),
  durable: boolish.default(true),
  auto_delete: boolish.default(false),
  internal: boolish.default(false),
  arguments: args.default({}),
});

export const bindingPostBody = z.looseObject({
  routing_key: z.string().default(''),
  arguments: args.default({}),
});

export const publishBody = z.looseObject({
  routing_key: z.string(),
  payload: z.string(),
  payload_encoding: z.enum(['string', 'base64']).default('string'),
  properties: z.union([z.record(z.string(), z.unknown()), z.array(z.never())]).default({}),
});

export const getBody = z.looseObject({
  count: integerish.default(1),
  ackmode: z.enum(['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false']),
  encoding: z.enum(['auto', 'base64']).default('auto'),
  truncate: integerish.optional(),
  requeue: z.unknown().optional(),
});

export const connectionDeleteHeaders = z.looseObject({ 'x-reason': z.string().optional() });

/** Parses `body` with `schema`, or throws RabbitMQ's 400 answer naming the first problem. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.join('.') ?? '';
  throw new AdminHttpError(
    400,
    'bad_request',
    `${where === '' ? '' : `${where}: `}${issue?.message ?? 'invalid'}`,
  );
}
