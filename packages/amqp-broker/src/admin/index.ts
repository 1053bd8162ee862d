/**
 * `@dispatcher/amqp-broker/admin`: the management listener (RabbitMQ-compatible HTTP API, Prometheus
 * metrics, web admin page). A separate entry point so that the broker itself never loads fastify.
 *
 * @packageDocumentation
 */
export { type AdminAuthenticator, type AdminUser, userStoreAuthenticator } from './admin-authenticator.js';
export { ADMIN_SECURITY_HEADERS, servedHostMatcher } from './admin-guard.js';
export { AdminServer } from './admin-server.js';
export {
  ADMIN_SERVER_DEFAULTS,
  type AdminServerOptions,
  type AdminTlsOptions,
} from './admin-server-options.js';
export { bindingPropertiesKey } from './binding-properties-key.js';
export { rabbitSha256Hash } from './routes/definition-routes.js';
export { RABBITMQ_COMPATIBLE_VERSION } from './routes/overview-routes.js';
export type { MessageCounts } from './stats/stats-sampler.js';
