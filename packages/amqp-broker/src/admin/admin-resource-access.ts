/**
 * Resource permissions of the management API's actions, as RabbitMQ's management plugin applies them: it
 * acts through a channel opened as the logged-in user, so that user's configure / write / read expressions
 * and topic permissions on the vhost apply exactly as over AMQP — administrators included (a tag opens the
 * API, not the resources). The checks are the broker's own ({@link ResourceAccess}).
 *
 * What RabbitMQ 3.10 answers to a refusal depends on the route (probed against it; see
 * test/admin/resource-permissions.differential.test.ts): declare, delete, purge, bind and unbind go
 * through its `with_channel`, which turns any channel error 403 into 401 `Access refused.`; get answers
 * 401 with the AMQP text; publish answers 400 `403 ACCESS_REFUSED - …` (exchange-routes.ts).
 */
import type { FastifyRequest } from 'fastify';
import { ResourceAccess } from '../auth/resource-access.js';
import { AmqpError } from '../errors.js';
import { requestUser } from './admin-access.js';
import type { AdminContext } from './admin-context.js';
import { AdminHttpError, fromAmqpError } from './admin-http-error.js';

/** The permission checks of the request's user on `vhost`. */
export function resourceAccess(ctx: AdminContext, request: FastifyRequest, vhost: string): ResourceAccess {
  const b = ctx.broker;
  return new ResourceAccess(b.permissions, requestUser(request).name, vhost, b.topicPermissions);
}

/** RabbitMQ's answer when an action run through `with_channel` is refused (channel error 403). */
export function accessRefused(): AdminHttpError {
  return new AdminHttpError(401, 'not_authorised', 'Access refused.');
}

/**
 * Runs permission checks and a vhost operation as RabbitMQ's `with_channel` does: a 403 becomes 401
 * `Access refused.`, other AMQP errors their usual HTTP answers.
 */
export function withChannel<T>(op: () => T): T {
  try {
    return op();
  } catch (err) {
    if (err instanceof AmqpError) throw err.replyCode === 403 ? accessRefused() : fromAmqpError(err);
    throw err;
  }
}
