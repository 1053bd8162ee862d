/** GET /metrics and /metrics/per-object (Prometheus text format). */
import type { FastifyInstance } from 'fastify';
import type { BrokerMetrics } from './broker-metrics.js';

export function registerMetricsRoutes(app: FastifyInstance, metrics: BrokerMetrics): void {
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.aggregated.contentType).send(await metrics.aggregated.metrics()),
  );
  app.get('/metrics/per-object', async (_request, reply) =>
    reply.header('content-type', metrics.perObject.contentType).send(await metrics.perObject.metrics()),
  );
}
