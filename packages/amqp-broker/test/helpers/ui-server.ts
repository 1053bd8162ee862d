/**
 * Test-only web server for the admin page: serves the built `dist/ui/` with the page's security headers and
 * passes `/api/…` through to a management API (RabbitMQ's 15672), so that the page and the API share one
 * origin as they do on dispatchd's admin listener.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { resolveUiDir, UI_SECURITY_HEADERS } from '../../src/ui-assets.js';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export interface UiServer {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  close: () => Promise<void>;
}

function proxy(req: IncomingMessage, res: ServerResponse, target: URL): void {
  const upstream = httpRequest(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: target.host },
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', (err) => {
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'bad_gateway', reason: err.message }));
  });
  req.pipe(upstream);
}

async function serveFile(res: ServerResponse, dir: string, urlPath: string): Promise<void> {
  const relative = urlPath === '/' ? 'index.html' : decodeURIComponent(urlPath.slice(1));
  const file = normalize(join(dir, relative));
  if (!file.startsWith(dir)) {
    res.writeHead(400).end();
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, {
      ...UI_SECURITY_HEADERS,
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    });
    res.end(body);
  } catch {
    res.writeHead(404, { ...UI_SECURITY_HEADERS, 'content-type': 'text/plain' }).end('not found');
  }
}

/** Starts the server on 127.0.0.1, a free port, proxying `/api/` to `apiBaseUrl`. */
export async function startUiServer(apiBaseUrl: string): Promise<UiServer> {
  const dir = resolveUiDir();
  const target = new URL(apiBaseUrl);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path.startsWith('/api/')) proxy(req, res, target);
    else void serveFile(res, dir, path);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
