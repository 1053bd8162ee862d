/**
 * The names an admin listener is served under. Without a token such a listener trusts loopback clients,
 * and a web page can reach a loopback port too, through DNS rebinding: its own name (`attacker.example`)
 * made to resolve to 127.0.0.1. The browser still sends that name in `Host` (and its origin in `Origin`), so
 * admin routes answer only requests that name a host they are served under.
 */

/** A host as in `Host` or in an origin: a lower-case name or address (IPv6 in brackets) and maybe a port. */
export interface HostName {
  readonly name: string;
  readonly port?: number;
}

const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?$/;
const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** `name`, `name:port`, `[v6]` or `[v6]:port` (a `Host` header's form), lower-cased; undefined for anything else. */
export function parseHostName(value: string): HostName | undefined {
  const m = HOST.exec(value.trim().toLowerCase());
  if (!m) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && port > 65_535) return undefined;
  return { name: m[1] as string, ...(port === undefined ? {} : { port }) };
}

/** `localhost`, `127.x.x.x` or `[::1]` (a parsed host name, without its port). */
export function isLoopbackHostName(name: string): boolean {
  return name === 'localhost' || name === '[::1]' || LOOPBACK_V4.test(name);
}

/** Whether a socket's remote address is a loopback one (`127.x`, `::1`, or IPv4-mapped `::ffff:127.x`). */
export function isLoopbackAddress(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}

/**
 * Whether a `Host` value names the admin listener: a loopback name or address (`localhost`, `127.x.x.x`,
 * `[::1]`, any port) or one of `configured` (`name` matches any port, `name:port` that port only). Entries
 * of `configured` that do not parse are ignored (validate them where they are configured).
 */
export function adminHostMatcher(configured: readonly string[]): (host: string | undefined) => boolean {
  const allowed = configured.map((entry) => parseHostName(entry)).filter((h) => h !== undefined);
  return (host) => {
    const h = host === undefined ? undefined : parseHostName(host);
    if (!h) return false;
    if (isLoopbackHostName(h.name)) return true;
    return allowed.some((a) => a.name === h.name && (a.port === undefined || a.port === h.port));
  };
}

/** The `host[:port]` of an `Origin` header, or undefined for `null` and anything that is not http(s). */
export function originHost(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.host : undefined;
  } catch {
    return undefined;
  }
}
