import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { adminHostMatcher } from './admin-hosts.js';

/** Where the admin routes live. */
export const ADMIN_PREFIX = '/_dispatcher/';

/** On every admin response: nothing is sniffed, no referrer leaves, nothing loads in it or frames it. */
export const ADMIN_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The `host[:port]` of an `Origin` header, or undefined for `null` and anything that is not http(s). */
function originHost(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.host : undefined;
  } catch {
    return undefined;
  }
}

/** An onRequest hook that puts {@link ADMIN_RESPONSE_HEADERS} on every response under the admin prefix. */
export async function adminResponseHeaders(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.url.startsWith(ADMIN_PREFIX)) reply.headers(ADMIN_RESPONSE_HEADERS);
}

/**
 * Admin access, checked on request (before the body is read): with a token, `Authorization: Bearer <token>`
 * (compared in constant time); without one, loopback clients only, so a fresh install is never an open admin
 * API — and only when `Host` names the admin API (a loopback name or one of `hosts`; 421 otherwise), so a
 * web page cannot reach it through DNS rebinding. Either way a state-changing request whose `Origin` is not
 * one of those hosts is refused (403): a page of another origin cannot make changes.
 */
export function adminGuard(token: string | undefined, hosts: readonly string[] = []) {
  const expected = token ? Buffer.from(token) : undefined;
  const isAdminHost = adminHostMatcher(hosts);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (expected) {
      const header = request.headers.authorization ?? '';
      const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        await reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'unauthorized', message: 'a valid Authorization: Bearer token is required' });
        return;
      }
    } else {
      const ip = request.socket.remoteAddress ?? '';
      if (!(ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.'))) {
        await reply.code(403).send({
          error: 'forbidden',
          message: 'the admin API answers loopback clients only until ADMIN_TOKEN is set',
        });
        return;
      }
      if (!isAdminHost(request.headers.host)) {
        await reply.code(421).send({
          error: 'misdirected_request',
          message:
            'the Host header does not name the admin API: use localhost, a 127.x.x.x address or [::1], or list the name in ADMIN_HOSTS',
        });
        return;
      }
    }
    const origin = request.headers.origin;
    if (STATE_CHANGING.has(request.method) && origin !== undefined) {
      const host = originHost(origin);
      if (host === undefined || !isAdminHost(host)) {
        await reply.code(403).send({
          error: 'cross_origin',
          message: 'admin changes are refused from a web page of another origin (Origin header)',
        });
      }
    }
  };
}

export type AdminGuard = ReturnType<typeof adminGuard>;
