import type { BrokerServer } from '../server.js';
import type { AdminAuthenticator } from './admin-authenticator.js';
import type { StatsSampler } from './stats/stats-sampler.js';

/** What the route files share. */
export interface AdminContext {
  readonly broker: BrokerServer;
  readonly stats: StatsSampler;
  readonly authenticator: AdminAuthenticator;
  /** RabbitMQ-style node name (`dispatchd@host`). */
  readonly nodeName: string;
  /** The management listener's port (known once listening; 0 before). */
  managementPort(): number;
  /** The separate Prometheus listener's port, when there is one. */
  prometheusPort(): number | undefined;
  /** Whether the management listener speaks TLS. */
  readonly tls: boolean;
}
