/**
 * A DNS lookup that applies the destination policy to every address a name resolves to: checking the
 * addresses the socket will actually use is what makes the policy safe against DNS rebinding.
 */
import dns from 'node:dns';
import type net from 'node:net';
import { CoreError } from '../errors.js';
import type { DestinationPolicy } from './destination-policy.js';

/** Node's `dns.lookup`-style callback, as `net.connect`'s `lookup` option calls it. */
export type LookupFunction = NonNullable<net.TcpNetConnectOpts['lookup']>;

/**
 * The error a refused destination fails its connection with: code `DSP_CORE_DESTINATION_NOT_ALLOWED`, the
 * addresses in `details`, and `hostname` set like Node's own DNS errors so socket error handling treats it
 * alike.
 */
export function destinationNotAllowed(host: string, addresses: readonly string[], reason: string): CoreError {
  return Object.assign(
    new CoreError(
      'DSP_CORE_DESTINATION_NOT_ALLOWED',
      `Destination ${host} refused: resolved to ${addresses.join(', ')}; ${reason}`,
      { details: { host, addresses: [...addresses], reason } },
    ),
    { hostname: host },
  );
}

/**
 * A `lookup` for `net.connect` / `tls.connect` (and so undici's `connect: { lookup }`) that resolves with
 * `dns.lookup` (all addresses), keeps only the addresses `policy.checkAddress` allows, and fails with
 * {@link destinationNotAllowed} when none is left.
 *
 * Note: `net.connect` skips `lookup` for IP-literal hosts, so literals must be checked by the caller
 * (`checkUrl` when accepted; `createSafeConnector` does it again at connect time).
 *
 * @param host - the destination URL's host, as the policy should see it
 * @param port - the destination URL's effective port
 */
export function safeLookup(policy: DestinationPolicy, host: string, port: number): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '');
        return;
      }
      let reason = 'no address';
      const allowed = addresses.filter((entry) => {
        const check = policy.checkAddress(host, port, entry.address);
        if (!check.ok) reason = check.reason;
        return check.ok;
      });
      const first = allowed[0];
      if (first === undefined) {
        const all = addresses.map((entry) => entry.address);
        callback(destinationNotAllowed(host, all, reason), '');
      } else if (options.all === true) {
        callback(null, allowed);
      } else {
        callback(null, first.address, first.family);
      }
    });
  };
}
