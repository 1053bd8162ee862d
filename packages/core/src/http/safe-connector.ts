/**
 * The undici connector that enforces a destination policy on every new socket. The only module of
 * `@dispatcher/core/http` that loads undici.
 */
import net from 'node:net';
import { buildConnector } from 'undici';
import { CoreError } from '../errors.js';
import type { DestinationPolicy } from './destination-policy.js';
import { destinationNotAllowed, safeLookup } from './safe-lookup.js';

/** Options of {@link createSafeConnector}: undici connector options (minus `lookup`) plus a cache bound. */
export type SafeConnectorOptions = Omit<buildConnector.BuildOptions, 'lookup'> & {
  /**
   * How many per-origin connectors to keep (each holds its TLS session cache), in connectors; the oldest
   * is dropped. An integer ≥ 1.
   * @defaultValue 1024
   */
  maxCachedConnectors?: number;
};

/** Defaults of {@link SafeConnectorOptions}. */
export const DEFAULT_SAFE_CONNECTOR_OPTIONS: Readonly<{ maxCachedConnectors: number }> = Object.freeze({
  maxCachedConnectors: 1024,
});

/**
 * An undici `connect` function (for `new Agent({ connect })`) that enforces `policy` on every new socket;
 * a refused destination fails the request with a `CoreError` coded `DSP_CORE_DESTINATION_NOT_ALLOWED`.
 *
 * A single `connect: { lookup }` option cannot do this on its own: the lookup only sees the host name,
 * not the port that `host:port` entries need. So one undici connector is built per origin, each with a
 * `safeLookup` bound to that origin, and IP-literal hosts (for which `net.connect` skips the lookup) are
 * checked directly.
 *
 * @throws CoreError `DSP_CORE_INVALID_ARGUMENT` for a `maxCachedConnectors` that is not an integer ≥ 1
 */
export function createSafeConnector(
  policy: DestinationPolicy,
  options: SafeConnectorOptions = {},
): buildConnector.connector {
  const { maxCachedConnectors = DEFAULT_SAFE_CONNECTOR_OPTIONS.maxCachedConnectors, ...connectorOptions } =
    options;
  if (!Number.isSafeInteger(maxCachedConnectors) || maxCachedConnectors < 1) {
    throw new CoreError(
      'DSP_CORE_INVALID_ARGUMENT',
      `maxCachedConnectors must be an integer >= 1; got ${maxCachedConnectors}`,
    );
  }
  const connectors = new Map<string, buildConnector.connector>();
  return (connectOptions, callback) => {
    const { hostname, protocol } = connectOptions;
    const port = connectOptions.port ? Number(connectOptions.port) : protocol === 'https:' ? 443 : 80;
    if (net.isIP(hostname) !== 0) {
      const check = policy.checkAddress(hostname, port, hostname);
      if (!check.ok) {
        callback(destinationNotAllowed(hostname, [hostname], check.reason), null);
        return;
      }
    }
    const key = `${protocol}//${hostname}:${port}`;
    let connector = connectors.get(key);
    if (connector === undefined) {
      connector = buildConnector({ ...connectorOptions, lookup: safeLookup(policy, hostname, port) });
      if (connectors.size >= maxCachedConnectors) {
        const oldest = connectors.keys().next();
        if (oldest.done !== true) connectors.delete(oldest.value);
      }
      connectors.set(key, connector);
    }
    connector(connectOptions, callback);
  };
}
