/**
 * Browser-facing protections shared by every admin listener (the proxy's admin API, the broker's management
 * listener, the push gateway's control API), free of any HTTP framework so each can wire it into its own
 * hooks and keep its own error bodies:
 *
 * 1. with a token: `Authorization: Bearer <token>` compared in constant time (401 otherwise);
 * 2. without one (or when the caller authenticates by itself): loopback clients only (403) — unless the
 *    caller leaves the client check to its own authentication — and only when `Host` names the listener
 *    (421, before any work), so a web page cannot reach it through DNS rebinding;
 * 3. either way a state-changing request whose `Origin` is not such a host is refused (403): no cross-site
 *    request forgery. Tools (curl, rabbitmqadmin, exporters) send no `Origin` and are unaffected.
 */
import { timingSafeEqual } from 'node:crypto';
import { adminHostMatcher, isLoopbackAddress, originHost } from './host-name.js';

/** The request facts the checks read (header values as the HTTP framework gives them). */
export interface AdminAccessRequest {
  readonly method: string;
  readonly host?: string | undefined;
  readonly origin?: string | undefined;
  readonly authorization?: string | undefined;
  /** The socket's remote address. */
  readonly remoteAddress?: string | undefined;
}

/** The parts of a Node `http.IncomingMessage` (and so of a fastify request) the checks read. */
export interface NodeRequestLike {
  readonly method?: string | undefined;
  readonly headers: {
    readonly host?: string | undefined;
    readonly origin?: string | undefined;
    readonly authorization?: string | undefined;
  };
  readonly socket: { readonly remoteAddress?: string | undefined };
}

/** The {@link AdminAccessRequest} of a Node (or fastify) request. */
export function adminAccessRequest(request: NodeRequestLike): AdminAccessRequest {
  return {
    method: request.method ?? 'GET',
    host: request.headers.host,
    origin: request.headers.origin,
    authorization: request.headers.authorization,
    remoteAddress: request.socket.remoteAddress,
  };
}

/**
 * Why a request is refused: `unauthorized` (401, bad or missing bearer token), `remote-client` (403, not a
 * loopback client while no token is set), `misdirected` (421, `Host` does not name the listener),
 * `cross-origin` (403, a write from a page of another origin).
 */
export type AdminAccessDenial = 'unauthorized' | 'remote-client' | 'misdirected' | 'cross-origin';

/** The HTTP status each {@link AdminAccessDenial} is answered with. */
export const ADMIN_DENIAL_STATUS: Readonly<Record<AdminAccessDenial, 401 | 403 | 421>> = {
  unauthorized: 401,
  'remote-client': 403,
  misdirected: 421,
  'cross-origin': 403,
};

/** Options of {@link adminAccessCheck}. */
export interface AdminAccessOptions {
  /**
   * `bearer`: a token (when set) is required; without one, loopback clients only, and `Host` must name the
   * listener. `host-only`: the caller authenticates by itself (the broker's users); only `Host` and `Origin`
   * are checked. @defaultValue 'bearer'
   */
  readonly mode?: 'bearer' | 'host-only';
  /** The bearer token (`bearer` mode); empty or undefined means none is set. */
  readonly token?: string | undefined;
  /** Names the listener is served under besides loopback ones (`name` or `name:port`). @defaultValue [] */
  readonly hosts?: readonly string[];
}

const STATE_CHANGING: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Whether `method` changes state (and so must not come from a page of another origin). */
export function isStateChangingMethod(method: string): boolean {
  return STATE_CHANGING.has(method);
}

/** Whether the `Authorization` header carries `Bearer <expected>` (constant time in the token's length). */
export function bearerTokenMatches(expected: Buffer, authorization: string | undefined): boolean {
  const header = authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '', 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The checks above as one function: answers the first reason to refuse the request, or undefined when it
 * may proceed. Built once per listener (the token and host list are parsed here).
 */
export function adminAccessCheck(
  options: AdminAccessOptions = {},
): (request: AdminAccessRequest) => AdminAccessDenial | undefined {
  const mode = options.mode ?? 'bearer';
  const expected = mode === 'bearer' && options.token ? Buffer.from(options.token, 'utf8') : undefined;
  const isServed = adminHostMatcher(options.hosts ?? []);
  return (request) => {
    if (expected) {
      if (!bearerTokenMatches(expected, request.authorization)) return 'unauthorized';
    } else {
      if (mode === 'bearer' && !isLoopbackAddress(request.remoteAddress ?? '')) return 'remote-client';
      if (!isServed(request.host)) return 'misdirected';
    }
    if (isStateChangingMethod(request.method) && request.origin !== undefined) {
      const host = originHost(request.origin);
      if (host === undefined || !isServed(host)) return 'cross-origin';
    }
    return undefined;
  };
}

/**
 * The security headers every admin answer carries: nothing is sniffed, no referrer leaves, nothing loads in
 * it or frames it. A listener that serves a page replaces the CSP with one that lets the page's own assets
 * load (keeping `frame-ancestors 'none'`).
 */
export const ADMIN_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};
