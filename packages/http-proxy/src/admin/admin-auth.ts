import {
  ADMIN_SECURITY_HEADERS,
  type AdminAccessDenial,
  adminAccessCheck,
  adminAccessRequest,
} from '@dispatcher/core';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Where the admin routes live. */
export const ADMIN_PREFIX = '/_dispatcher/';

/** On every admin response: nothing is sniffed, no referrer leaves, nothing loads in it or frames it. */
export const ADMIN_RESPONSE_HEADERS: Readonly<Record<string, string>> = ADMIN_SECURITY_HEADERS;

/**
 * The admin API's answer to each refusal (its error bodies predate the shared check: keep them). Built as
 * `{ status, error }` data so the docs test reads the reasons (docs/http-errors.md).
 */
const DENIALS: Readonly<Record<AdminAccessDenial, { status: number; error: string; message: string }>> = {
  unauthorized: {
    status: 401,
    error: 'unauthorized',
    message: 'a valid Authorization: Bearer token is required',
  },
  'remote-client': {
    status: 403,
    error: 'forbidden',
    message: 'the admin API answers loopback clients only until ADMIN_TOKEN is set',
  },
  misdirected: {
    status: 421,
    error: 'misdirected_request',
    message:
      'the Host header does not name the admin API: use localhost, a 127.x.x.x address or [::1], or list the name in ADMIN_HOSTS',
  },
  'cross-origin': {
    status: 403,
    error: 'cross_origin',
    message: 'admin changes are refused from a web page of another origin (Origin header)',
  },
};

/** An onRequest hook that puts {@link ADMIN_RESPONSE_HEADERS} on every response under the admin prefix. */
export async function adminResponseHeaders(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.url.startsWith(ADMIN_PREFIX)) reply.headers(ADMIN_RESPONSE_HEADERS);
}

/**
 * Admin access, checked on request (before the body is read), by core's `adminAccessCheck`: with a token,
 * `Authorization: Bearer <token>` (compared in constant time); without one, loopback clients only, so a
 * fresh install is never an open admin API — and only when `Host` names the admin API (a loopback name or
 * one of `hosts`; 421 otherwise), so a web page cannot reach it through DNS rebinding. Either way a
 * state-changing request whose `Origin` is not one of those hosts is refused (403).
 */
export function adminGuard(token: string | undefined, hosts: readonly string[] = []) {
  const check = adminAccessCheck({ token, hosts });
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const denial = check(adminAccessRequest(request));
    if (denial === undefined) return;
    if (denial === 'unauthorized') reply.header('www-authenticate', 'Bearer');
    const { status, error, message } = DENIALS[denial];
    await reply.code(status).send({ error, message });
  };
}

export type AdminGuard = ReturnType<typeof adminGuard>;
