/**
 * Browser-facing protections of the management listener (DNS rebinding, CSRF, content sniffing), the same
 * rules as the HTTP proxy's admin API: `Host` must name the listener (a loopback name or address, or a
 * configured name) or the request is refused with 421 before any work; a state-changing request whose
 * `Origin` is another origin is refused with 403; every answer carries a strict CSP, `nosniff`,
 * `no-referrer` and frame-ancestors 'none'. Tools (rabbitmqadmin, Terraform, exporters) send no `Origin`
 * and are unaffected.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

/** On every response of the management listener. */
export const ADMIN_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
};

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?$/;
const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

interface HostName {
  readonly name: string;
  readonly port: number | undefined;
}

function parseHost(value: string): HostName | undefined {
  const m = HOST.exec(value.trim().toLowerCase());
  if (!m) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && port > 65_535) return undefined;
  return { name: m[1] as string, port };
}

/**
 * Whether a `Host` value names the listener: loopback (`localhost`, `127.x.x.x`, `[::1]`, any port) or one
 * of `served` (`name` for any port, `name:port` for that port).
 */
export function servedHostMatcher(served: readonly string[]): (host: string | undefined) => boolean {
  const allowed = served.map(parseHost).filter((h): h is HostName => h !== undefined);
  return (host) => {
    const h = host === undefined ? undefined : parseHost(host);
    if (h === undefined) return false;
    if (h.name === 'localhost' || h.name === '[::1]' || LOOPBACK_V4.test(h.name)) return true;
    return allowed.some((a) => a.name === h.name && (a.port === undefined || a.port === h.port));
  };
}

function originHost(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.host : undefined;
  } catch {
    return undefined;
  }
}

/** The onRequest hook enforcing the rules above (runs before authentication and before the body is read). */
export function adminGuard(served: readonly string[]) {
  const isServed = servedHostMatcher(served);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.headers(ADMIN_SECURITY_HEADERS);
    if (!isServed(request.headers.host)) {
      await reply.code(421).send({
        error: 'misdirected_request',
        reason:
          'the Host header does not name this management listener: use localhost, a 127.x.x.x address or [::1], or add the name to the served hosts',
      });
      return;
    }
    const origin = request.headers.origin;
    if (STATE_CHANGING.has(request.method) && origin !== undefined) {
      const host = originHost(origin);
      if (host === undefined || !isServed(host)) {
        await reply.code(403).send({
          error: 'cross_origin',
          reason: 'changes are refused from a web page of another origin (Origin header)',
        });
      }
    }
  };
}
