/**
 * Prometheus metrics of one proxy instance, on its own registry (served at `/_dispatcher/metrics`), so two
 * proxies in one process never collide and nothing is global.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly accepted = new Counter({
    name: 'dispatcher_accepted_total',
    help: 'Requests made durable and answered 202',
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'dispatcher_rejected_total',
    help: 'Requests refused at ingest, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly delivered = new Counter({
    name: 'dispatcher_delivered_total',
    help: 'Requests delivered (2xx)',
    registers: [this.registry],
  });
  readonly retried = new Counter({
    name: 'dispatcher_retried_total',
    help: 'Failed attempts scheduled for a retry',
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: 'dispatcher_dead_lettered_total',
    help: 'Requests moved to the dead-letter store',
    registers: [this.registry],
  });
  readonly backlog = new Gauge({
    name: 'dispatcher_backlog',
    help: 'Requests accepted and not yet delivered or dead-lettered',
    registers: [this.registry],
  });
  readonly deadLetterSize = new Gauge({
    name: 'dispatcher_dead_letters',
    help: 'Requests in the dead-letter store',
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'dispatcher_delivery_duration_seconds',
    help: 'Duration of delivery attempts by destination and outcome',
    labelNames: ['destination', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
}
