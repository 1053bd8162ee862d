import type { Logger } from '@dispatcher/core';
import type { BrokerServer } from '../server.js';
import type { AdminAuthenticator } from './admin-authenticator.js';

/** Certificate and key (PEM) of an HTTPS management listener. */
export interface AdminTlsOptions {
  /** Certificate chain, PEM. */
  readonly cert: string | Buffer;
  /** Private key, PEM. */
  readonly key: string | Buffer;
  /** CA certificates to trust for client certificates, PEM (with `requestClientCert`). */
  readonly ca?: string | Buffer | undefined;
}

/** Options of {@link AdminServer}. */
export interface AdminServerOptions {
  /** The broker to manage. */
  broker: BrokerServer;
  /** TCP port of the management listener; 0 picks a free one (read `port` after `start()`). @defaultValue 15672 */
  port?: number;
  /** Address to listen on. @defaultValue '127.0.0.1' */
  host?: string;
  /** Serve HTTPS with this certificate and key instead of HTTP. @defaultValue undefined (HTTP) */
  tls?: AdminTlsOptions | undefined;
  /**
   * Host names (`name` or `name:port`) the listener is reached under besides loopback names and addresses;
   * requests naming another `Host` get 421 (DNS rebinding), cross-origin writes 403. @defaultValue []
   */
  servedHosts?: readonly string[];
  /**
   * Directory of the built web admin page (a Vite build: `index.html`, `assets/`), served at `/`.
   * @defaultValue the package's `dist/ui/`
   */
  uiDir?: string;
  /** Checks HTTP Basic credentials. @defaultValue the broker's users (its `users` store), with their tags */
  authenticator?: AdminAuthenticator | undefined;
  /** Time between two samples of the message counters (rates are per second over it), in milliseconds. @defaultValue 5000 */
  statsIntervalMs?: number;
  /**
   * Port of a separate Prometheus listener (RabbitMQ's is 15692) serving `/metrics` and
   * `/metrics/per-object` without credentials; undefined: metrics only on the management listener.
   * 0 picks a free port. @defaultValue undefined
   */
  prometheusPort?: number | undefined;
  /** Largest request body, in bytes. @defaultValue 134217728 */
  bodyLimitBytes?: number;
  /** Node name shown as RabbitMQ's `node`. @defaultValue `dispatchd@<hostname>` */
  nodeName?: string | undefined;
  logger?: Logger;
}

/** Defaults of {@link AdminServerOptions}. */
export const ADMIN_SERVER_DEFAULTS = {
  port: 15672,
  host: '127.0.0.1',
  servedHosts: [] as readonly string[],
  statsIntervalMs: 5000,
  bodyLimitBytes: 134_217_728,
} as const;
