/**
 * RabbitMQ's tag-based access rules for the management API (rabbit_mgmt_util, 3.10):
 *
 * - `administrator`: everything;
 * - `monitoring`: also the nodes and every connection and channel, but not users, permissions, vhost
 *   changes or definitions;
 * - `management`, `policymaker`: only the vhosts it has a permission entry on and its own connections;
 * - any other tags: refused with 401 `Not management user`.
 *
 * A route naming a vhost that exists needs a permission entry on it (administrators excepted), else
 * 401 `User not authorised to access virtual host`. Refusals after a good login carry no
 * `www-authenticate` header, as RabbitMQ's do not.
 */
import type { FastifyRequest } from 'fastify';
import type { AdminUser } from './admin-authenticator.js';
import type { AdminContext } from './admin-context.js';
import { AdminHttpError } from './admin-http-error.js';

const MANAGEMENT_TAGS = new Set(['administrator', 'monitoring', 'management', 'policymaker']);

export function isManagementUser(user: AdminUser): boolean {
  return user.tags.some((t) => MANAGEMENT_TAGS.has(t));
}

export function isAdministrator(user: AdminUser): boolean {
  return user.tags.includes('administrator');
}

/** Administrators and monitoring users (RabbitMQ's `is_monitor`). */
export function isMonitor(user: AdminUser): boolean {
  return isAdministrator(user) || user.tags.includes('monitoring');
}

function notAuthorised(reason: string): AdminHttpError {
  return new AdminHttpError(401, 'not_authorised', reason);
}

/** The authenticated user of a request (set by the authentication hook on every `/api` request). */
export function requestUser(request: FastifyRequest): AdminUser {
  const user = request.adminUser;
  if (user === undefined) throw notAuthorised('Not management user');
  return user;
}

/** Whether `user` may see and act on `vhost` (administrators always; others with a permission entry). */
export function canAccessVhost(ctx: AdminContext, user: AdminUser, vhost: string): boolean {
  return isAdministrator(user) || ctx.broker.permissions.canAccessVhost(user.name, vhost);
}

/** How much of the API a route needs, beyond being a management user. */
export type RouteAccess = 'administrator' | 'monitor' | 'management';

/** Routes (fastify route patterns) that need more than a management tag. */
const ADMINISTRATOR_ROUTES: readonly RegExp[] = [
  /^\/api\/users(\/|$)/,
  /^\/api\/permissions(\/|$)/,
  /^\/api\/topic-permissions(\/|$)/,
  /^\/api\/vhosts\/:vhost\/topic-permissions$/,
  /^\/api\/definitions(\/|$)/,
  /^\/api\/vhosts\/:vhost\/permissions$/,
  // Every method, reading too: RabbitMQ 3.10 answers `Not administrator user` even for the user's own.
  /^\/api\/vhosts\/:vhost$/,
];
const MONITOR_ROUTES: readonly RegExp[] = [/^\/api\/nodes(\/|$)/];

export function routeAccess(routeUrl: string): RouteAccess {
  if (ADMINISTRATOR_ROUTES.some((re) => re.test(routeUrl))) return 'administrator';
  if (MONITOR_ROUTES.some((re) => re.test(routeUrl))) return 'monitor';
  return 'management';
}

/**
 * The preHandler check of every `/api` route: the tag the route needs, then access to the vhost named in
 * the URL when it exists (a missing vhost is the route's 404, as in RabbitMQ).
 */
export function authorise(ctx: AdminContext, request: FastifyRequest): void {
  const user = requestUser(request);
  const access = routeAccess(request.routeOptions.url ?? '');
  if (access === 'administrator' && !isAdministrator(user)) throw notAuthorised('Not administrator user');
  if (access === 'monitor' && !isMonitor(user)) throw notAuthorised('Not monitor user');
  const vhost = (request.params as { vhost?: unknown } | undefined)?.vhost;
  if (
    typeof vhost === 'string' &&
    ctx.broker.vhost(vhost) !== undefined &&
    !canAccessVhost(ctx, user, vhost)
  ) {
    throw notAuthorised('User not authorised to access virtual host');
  }
}
