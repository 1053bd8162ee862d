import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PushErrorCode } from '../errors.js';

/**
 * Access rules of the control API (issue #16, the same behaviour as the proxy's admin API): with a token,
 * `Authorization: Bearer <token>` compared in constant time; without one, loopback clients only and only when
 * `Host` names the API (a loopback name, or one listed in `hosts`), so a web page cannot reach it through DNS
 * rebinding. Either way a write whose `Origin` is not such a host is refused: no cross-site request forgery.
 */

/** Security headers on every control API response: nothing is sniffed, leaks a referrer, loads or frames. */
export const CONTROL_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cache-control': 'no-store',
};

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const HOST_RE = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?$/;

/** `[name, port]` of a `Host`-style value, lower-cased; undefined when malformed. */
function splitHost(value: string): [string, number | undefined] | undefined {
  const m = HOST_RE.exec(value.trim().toLowerCase());
  if (!m?.[1]) return undefined;
  return [m[1], m[2] === undefined ? undefined : Number(m[2])];
}

function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name === '[::1]' || /^127(\.\d{1,3}){3}$/.test(name);
}

/** Whether `host` names the API: any loopback name or address, or an entry of `hosts` (`name` or `name:port`). */
export function controlHostMatcher(hosts: readonly string[]): (host: string | undefined) => boolean {
  const allowed = hosts.map(splitHost).filter((h) => h !== undefined);
  return (host) => {
    const h = host === undefined ? undefined : splitHost(host);
    if (!h) return false;
    if (isLoopbackName(h[0])) return true;
    return allowed.some(([name, port]) => name === h[0] && (port === undefined || port === h[1]));
  };
}

function isLoopbackAddress(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}

function deny(reply: FastifyReply, status: number, code: PushErrorCode, message: string) {
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(status).send({ error: { code, message } });
}

/** The onRequest hook enforcing the rules above. */
export function controlGuard(token: string | undefined, hosts: readonly string[] = []) {
  const expected = token ? Buffer.from(token, 'utf8') : undefined;
  const isApiHost = controlHostMatcher(hosts);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.headers(CONTROL_RESPONSE_HEADERS);
    if (expected) {
      const auth = request.headers.authorization ?? '';
      const given = Buffer.from(auth.startsWith('Bearer ') ? auth.slice(7) : '', 'utf8');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        await deny(reply, 401, 'DSP_PUSH_UNAUTHORIZED', 'a valid Authorization: Bearer token is required');
        return;
      }
    } else {
      if (!isLoopbackAddress(request.socket.remoteAddress ?? '')) {
        await deny(
          reply,
          403,
          'DSP_PUSH_FORBIDDEN',
          'without a control token only loopback clients are served',
        );
        return;
      }
      if (!isApiHost(request.headers.host)) {
        await deny(
          reply,
          421,
          'DSP_PUSH_MISDIRECTED',
          'the Host header does not name the control API: use a loopback name or list it in the allowed hosts',
        );
        return;
      }
    }
    const origin = request.headers.origin;
    if (WRITES.has(request.method) && origin !== undefined) {
      let host: string | undefined;
      try {
        const url = new URL(origin);
        host = url.protocol === 'http:' || url.protocol === 'https:' ? url.host : undefined;
      } catch {
        host = undefined;
      }
      if (host === undefined || !isApiHost(host)) {
        await deny(reply, 403, 'DSP_PUSH_FORBIDDEN', 'changes are refused from a web page of another origin');
      }
    }
  };
}
