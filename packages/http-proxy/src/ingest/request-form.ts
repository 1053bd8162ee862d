/**
 * Request forms a store-and-forward proxy cannot keep: it stores a request and replays it later as a plain
 * HTTP/1.1 request to the destination it names in `X-Dispatcher-Origin-Host`, so the request target must be
 * a path (origin-form), and tunnels or protocol switches (CONNECT, `Upgrade`) have nothing to store.
 * node:http passes the other forms through as they came (`req.url` is `http://h/x` or `*`, and a request
 * with `Upgrade` is an ordinary request when the server has no `upgrade` listener).
 */
import type { IncomingMessage } from 'node:http';

/** Why a request is refused before anything else looks at it. */
export interface RequestRefusal {
  status: 400 | 501;
  /** Machine-readable reason, the `error` of the JSON body and the `reason` of the rejected metric. */
  error: 'invalid_request_target' | 'connect_not_supported' | 'upgrade_not_supported';
  message: string;
}

const USE_A_PATH = 'send the path (/path?query) and name the destination in X-Dispatcher-Origin-Host';

/** The refusal for a request the proxy cannot store or serve, or undefined for an ordinary request. */
export function unsupportedRequest(req: IncomingMessage): RequestRefusal | undefined {
  if (req.method === 'CONNECT')
    return {
      status: 501,
      error: 'connect_not_supported',
      message: `CONNECT tunnels are not supported by this store-and-forward proxy: ${USE_A_PATH}`,
    };
  if (req.headers.upgrade !== undefined)
    return {
      status: 501,
      error: 'upgrade_not_supported',
      message:
        'protocol upgrades (Upgrade: websocket, h2c, …) are not supported: requests are stored and delivered later over HTTP/1.1',
    };
  const url = req.url ?? '';
  if (url === '*')
    return {
      status: 400,
      error: 'invalid_request_target',
      message: `the asterisk-form target (OPTIONS *) is not supported: ${USE_A_PATH}`,
    };
  if (!url.startsWith('/'))
    return {
      status: 400,
      error: 'invalid_request_target',
      message: `absolute-form targets (as sent to a forward proxy) are not supported: ${USE_A_PATH}`,
    };
  return undefined;
}
