import { isIP } from 'node:net';

/** Returns a reason when `address` (resolved for `hostname`) must not be contacted, else undefined. */
export type DestinationCheck = (address: string, hostname: string) => string | undefined;

/**
 * The gateway's default trust model: subscriber URLs come from operators and usually point at internal hosts,
 * so private addresses are allowed; link-local (169.254/16, fe80::/10, which holds most cloud metadata
 * services) and the well-known metadata addresses are refused. Temporary seam until the shared destination
 * policy of `@dispatcher/core/http` is available.
 */
export function gatewayDestinationCheck(): DestinationCheck {
  return (address) => {
    const ip = address.toLowerCase().replace(/^::ffff:/, '');
    const v = isIP(ip);
    if (v === 4) {
      if (ip.startsWith('169.254.')) return `link-local / metadata address ${ip} refused`;
      if (ip === '100.100.100.200') return `cloud metadata address ${ip} refused`;
      if (ip === '0.0.0.0') return `unspecified address ${ip} refused`;
    } else if (v === 6) {
      if (/^fe[89ab][0-9a-f]:/.test(ip)) return `link-local address ${ip} refused`;
      if (ip === 'fd00:ec2::254') return `cloud metadata address ${ip} refused`;
      if (ip === '::') return `unspecified address ${ip} refused`;
    }
    return undefined;
  };
}
