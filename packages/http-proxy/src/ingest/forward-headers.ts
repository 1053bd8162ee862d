/**
 * The request headers the proxy forwards to the destination.
 *
 * The stored request is replayed later over a different connection, so anything that describes the
 * client's connection to us (hop-by-hop headers, RFC 9110 §7.6.1) or that undici computes or refuses itself
 * must not be stored. Everything else is end-to-end and is forwarded unchanged.
 */

// Hop-by-hop headers, plus the ones undici sets itself or rejects outright.
export const DROPPED_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // The destination's host comes from the destination URL.
  'host',
  // The body is replayed from the store; undici recomputes its length.
  'content-length',
  // The client already got its 202; undici throws on `expect` (NotSupportedError).
  'expect',
]);

const CONTROL_PREFIX = 'x-dispatcher-';

/**
 * Returns the headers to send to the destination: names lowercased, values (including repeated values)
 * kept exactly. Dropped: hop-by-hop headers (`connection`, `keep-alive`, `proxy-connection`,
 * `proxy-authenticate`, `proxy-authorization`, `te`, `trailer`, `transfer-encoding`, `upgrade`) and every
 * header named in `Connection`; `host`; `content-length`; `expect`; HTTP/2 pseudo-headers (`:path`…); and
 * every `x-dispatcher-*` control header.
 *
 * Names that differ only in case are merged into one repeated header, in input order.
 *
 * @param incoming - request headers as Node parses them (`IncomingHttpHeaders`)
 */
export function forwardHeaders(
  incoming: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  // Copy the drop list only when Connection names extra hop-by-hop headers (rare).
  let dropped: ReadonlySet<string> = DROPPED_HEADERS;
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || name.toLowerCase() !== 'connection') continue;
    for (const line of Array.isArray(value) ? value : [value]) {
      for (const token of line.split(',')) {
        const listed = token.trim().toLowerCase();
        if (listed === '') continue;
        if (dropped === DROPPED_HEADERS) dropped = new Set(DROPPED_HEADERS);
        (dropped as Set<string>).add(listed);
      }
    }
  }

  const result: Record<string, string | string[]> = {};
  for (const rawName in incoming) {
    const value = incoming[rawName];
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    if (dropped.has(name) || name.startsWith(CONTROL_PREFIX) || name.charCodeAt(0) === 58 /* ':' */) continue;
    const existing = result[name];
    if (existing === undefined) {
      result[name] = Array.isArray(value) ? [...value] : value;
    } else {
      result[name] = [
        ...(Array.isArray(existing) ? existing : [existing]),
        ...(Array.isArray(value) ? value : [value]),
      ];
    }
  }
  return result;
}
