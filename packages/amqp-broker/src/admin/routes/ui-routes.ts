/**
 * The web admin page: the files of the package's built UI (`dist/ui/`, a Vite build) at `/`, with their
 * content types, long caching for hashed assets (`/assets/…`) and revalidation for everything else, and
 * `index.html` for any other GET outside `/api` (the page routes on the client). Nothing is fetched from
 * elsewhere at run time.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
};

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export function registerUiRoutes(app: FastifyInstance, uiDir: string): void {
  const root = resolve(uiDir);
  const send = async (reply: FastifyReply, path: string, urlPath: string) => {
    const type = CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
    const cache = urlPath.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
    return reply
      .header('content-type', type)
      .header('cache-control', cache)
      .send(await readFile(path));
  };
  app.get('/*', async (request, reply) => {
    const urlPath = decodeURIComponent(request.url.split('?')[0] ?? '/');
    if (urlPath.startsWith('/api/') || urlPath === '/api') {
      return reply.code(404).send({ error: 'Object Not Found', reason: 'Not Found' });
    }
    const index = join(root, 'index.html');
    if (!(await isFile(index))) {
      return reply
        .code(404)
        .header('content-type', 'text/plain; charset=utf-8')
        .send('The web admin page is not built (no dist/ui/index.html); the management API is at /api/.');
    }
    const candidate = resolve(root, `.${urlPath}`);
    // Never outside the UI directory.
    if ((candidate === root || candidate.startsWith(root + sep)) && (await isFile(candidate))) {
      return send(reply, candidate, urlPath);
    }
    // A hashed asset that does not exist is a 404, not the page (it would be cached as that asset).
    if (urlPath.startsWith('/assets/'))
      return reply.code(404).send({ error: 'Object Not Found', reason: 'Not Found' });
    return send(reply, index, '/index.html');
  });
}
