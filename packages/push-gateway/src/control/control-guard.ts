import {
  ADMIN_DENIAL_STATUS,
  ADMIN_SECURITY_HEADERS,
  type AdminAccessDenial,
  adminAccessCheck,
  adminAccessRequest,
  adminHostMatcher,
} from '@dispatcher/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PushErrorCode } from '../errors.js';

/**
 * Access rules of the control API (issue #16, the same behaviour as the proxy's admin API, both core's
 * `adminAccessCheck`): with a token, `Authorization: Bearer <token>` compared in constant time; without
 * one, loopback clients only and only when `Host` names the API (a loopback name, or one listed in
 * `hosts`), so a web page cannot reach it through DNS rebinding. Either way a write whose `Origin` is not
 * such a host is refused: no cross-site request forgery.
 */

/** Security headers on every control API response: nothing is sniffed, leaks a referrer, loads or frames. */
export const CONTROL_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  ...ADMIN_SECURITY_HEADERS,
  'cache-control': 'no-store',
};

/** Whether `host` names the API: any loopback name or address, or an entry of `hosts` (`name` or `name:port`). */
export const controlHostMatcher: (hosts: readonly string[]) => (host: string | undefined) => boolean =
  adminHostMatcher;

/** The control API's error code and message for each refusal. */
const DENIALS: Readonly<Record<AdminAccessDenial, { code: PushErrorCode; message: string }>> = {
  unauthorized: { code: 'DSP_PUSH_UNAUTHORIZED', message: 'a valid Authorization: Bearer token is required' },
  'remote-client': {
    code: 'DSP_PUSH_FORBIDDEN',
    message: 'without a control token only loopback clients are served',
  },
  misdirected: {
    code: 'DSP_PUSH_MISDIRECTED',
    message:
      'the Host header does not name the control API: use a loopback name or list it in the allowed hosts',
  },
  'cross-origin': {
    code: 'DSP_PUSH_FORBIDDEN',
    message: 'changes are refused from a web page of another origin',
  },
};

/** The onRequest hook enforcing the rules above. */
export function controlGuard(token: string | undefined, hosts: readonly string[] = []) {
  const check = adminAccessCheck({ token, hosts });
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.headers(CONTROL_RESPONSE_HEADERS);
    const denial = check(adminAccessRequest(request));
    if (denial === undefined) return;
    if (denial === 'unauthorized') reply.header('www-authenticate', 'Bearer');
    await reply.code(ADMIN_DENIAL_STATUS[denial]).send({ error: DENIALS[denial] });
  };
}
