import type { VirtualHost } from '../vhost/virtual-host.js';
import { canAccessVhost } from './admin-access.js';
import type { AdminUser } from './admin-authenticator.js';
import type { AdminContext } from './admin-context.js';
import { notFound } from './admin-http-error.js';

/** The exchange RabbitMQ's HTTP API names `amq.default` (the default exchange, `''`). */
export function exchangeName(urlName: string): string {
  return urlName === 'amq.default' ? '' : urlName;
}

/** The vhost named in the URL, or RabbitMQ's 404. */
export function vhostOr404(ctx: AdminContext, name: string): VirtualHost {
  const v = ctx.broker.vhost(name);
  if (v === undefined) throw notFound();
  return v;
}

/**
 * The vhosts a list covers: the one in the URL (404 when missing; access was checked by the preHandler),
 * else every vhost `user` may access (RabbitMQ filters lists the same way, monitoring users included).
 */
export function vhostsFor(ctx: AdminContext, name: string | undefined, user: AdminUser): VirtualHost[] {
  if (name !== undefined) return [vhostOr404(ctx, name)];
  return ctx.broker.vhosts().filter((v) => canAccessVhost(ctx, user, v.name));
}

/** Owner the management API acts as: it owns no exclusive queue. */
export const ADMIN_OWNER: object = Object.freeze({});
