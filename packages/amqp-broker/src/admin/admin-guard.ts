/**
 * Browser-facing protections of the management listener (DNS rebinding, CSRF, content sniffing), core's
 * `adminAccessCheck` in `host-only` mode (users authenticate afterwards): `Host` must name the listener (a
 * loopback name or address, or a configured name) or the request is refused with 421 before any work; a
 * state-changing request whose `Origin` is another origin is refused with 403; every answer carries a
 * strict CSP, `nosniff`, `no-referrer` and frame-ancestors 'none'. Tools (rabbitmqadmin, Terraform,
 * exporters) send no `Origin` and are unaffected.
 */
import {
  ADMIN_DENIAL_STATUS,
  adminAccessCheck,
  adminHostMatcher,
  ADMIN_SECURITY_HEADERS as BASE_HEADERS,
} from '@dispatcher/core';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** On every response of the management listener: core's headers, with a CSP that lets the page's own assets load. */
export const ADMIN_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  ...BASE_HEADERS,
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
};

/**
 * Whether a `Host` value names the listener: loopback (`localhost`, `127.x.x.x`, `[::1]`, any port) or one
 * of `served` (`name` for any port, `name:port` for that port).
 */
export const servedHostMatcher: (served: readonly string[]) => (host: string | undefined) => boolean =
  adminHostMatcher;

/** The onRequest hook enforcing the rules above (runs before authentication and before the body is read). */
export function adminGuard(served: readonly string[]) {
  const check = adminAccessCheck({ mode: 'host-only', hosts: served });
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.headers(ADMIN_SECURITY_HEADERS);
    const denial = check({
      method: request.method,
      host: request.headers.host,
      origin: request.headers.origin,
    });
    if (denial === 'misdirected') {
      await reply.code(ADMIN_DENIAL_STATUS[denial]).send({
        error: 'misdirected_request',
        reason:
          'the Host header does not name this management listener: use localhost, a 127.x.x.x address or [::1], or add the name to the served hosts',
      });
    } else if (denial !== undefined) {
      await reply.code(ADMIN_DENIAL_STATUS[denial]).send({
        error: 'cross_origin',
        reason: 'changes are refused from a web page of another origin (Origin header)',
      });
    }
  };
}
