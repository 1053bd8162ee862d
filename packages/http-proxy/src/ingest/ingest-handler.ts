/**
 * The ingest hot path on plain node:http: a request that carries a destination header is validated, made
 * durable and answered 202 here, without fastify's routing, hooks and reply objects (they cost about as
 * much as everything else a durable request needs). Admin routes and everything else stay on fastify.
 *
 *   headers ─▶ destination policy ─▶ admission ─▶ idempotency ─▶ body (bounded) ─▶ durable append ─▶ 202
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DestinationPolicy, PolicyCheck } from '@dispatcher/core/http';
import type { ProxyContext } from '../proxy-context.js';
import { isStorageFailure, STORAGE_RETRY_AFTER_S } from '../store/storage-failure.js';
import {
  buildTargetPath,
  DEFAULT_DISPATCH_HEADER_LIMITS,
  firstAttemptAt,
  parseDispatchHeaders,
} from './dispatch-headers.js';
import { forwardHeaders } from './forward-headers.js';
import { replyError, replyJson } from './json-reply.js';

const POLICY_CACHE_LIMIT = 10_000;

/** Policy checks depend only on scheme, host and port: remember them per origin. */
function cachedPolicy(policy: DestinationPolicy): (url: URL) => PolicyCheck {
  const cache = new Map<string, PolicyCheck>();
  return (url) => {
    if (url.username !== '' || url.password !== '') return policy.checkUrl(url);
    const key = `${url.protocol}//${url.host}`;
    let check = cache.get(key);
    if (!check) {
      check = policy.checkUrl(url);
      if (cache.size >= POLICY_CACHE_LIMIT) cache.clear();
      cache.set(key, check);
    }
    return check;
  };
}

export function createIngestHandler(ctx: ProxyContext): (req: IncomingMessage, res: ServerResponse) => void {
  const checkUrl = cachedPolicy(ctx.policy);
  const pendingKeys = new Map<string, Promise<string>>();
  const maxBody = ctx.opts.maxBodyBytes;
  const rejected = (reason: string) => ctx.metrics.rejected.inc({ reason });

  return (req, res) => {
    if (ctx.closing) {
      replyError(res, 503, 'closing', 'the dispatcher is shutting down', {
        'retry-after': '5',
        connection: 'close',
      });
      req.resume();
      return;
    }
    const now = Date.now();
    const parsed = parseDispatchHeaders(req.headers, DEFAULT_DISPATCH_HEADER_LIMITS, now);
    if (!parsed.ok) {
      rejected(parsed.error);
      replyError(res, 400, parsed.error, parsed.message);
      req.resume();
      return;
    }
    const o = parsed.options;
    for (const url of [o.destination, o.callbackUrl, o.failureCallbackUrl]) {
      if (!url) continue;
      const check = checkUrl(url);
      if (!check.ok) {
        rejected('destination_not_allowed');
        replyError(res, 403, 'destination_not_allowed', check.reason);
        req.resume();
        return;
      }
    }
    // The log probes the disk in the background: no point reading a body it cannot store.
    const unavailable = ctx.storageUnavailable();
    if (unavailable) {
      rejected('storage_unavailable');
      replyError(res, 503, 'storage_unavailable', unavailable, { 'retry-after': STORAGE_RETRY_AFTER_S });
      req.resume();
      return;
    }
    const overloaded = ctx.overloaded();
    if (overloaded) {
      rejected('overloaded');
      replyError(res, 503, 'overloaded', overloaded, { 'retry-after': '5' });
      req.resume();
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) {
      rejected('too_large');
      replyError(res, 413, 'payload_too_large', `request body exceeds ${maxBody} bytes`, {
        connection: 'close',
      });
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) {
        if (!tooLarge) {
          tooLarge = true;
          rejected('too_large');
          replyError(res, 413, 'payload_too_large', `request body exceeds ${maxBody} bytes`, {
            connection: 'close',
          });
          req.destroy();
        }
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {
      // The client went away mid-body: nothing was promised, nothing stored.
    });
    req.on('end', () => {
      if (tooLarge) return;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      accept(req, res, o, body, now).catch((err: unknown) => {
        const closed = (err as { code?: string }).code === 'DSP_CORE_CLOSED';
        if (closed)
          replyError(res, 503, 'closing', 'the dispatcher is shutting down', { 'retry-after': '5' });
        else if (isStorageFailure(err)) {
          rejected('storage_unavailable');
          replyError(
            res,
            503,
            'storage_unavailable',
            `the request was not stored: ${(err as Error).message}`,
            {
              'retry-after': STORAGE_RETRY_AFTER_S,
            },
          );
        } else replyError(res, 500, 'internal_error', 'the request was not stored');
      });
    });
  };

  async function accept(
    req: IncomingMessage,
    res: ServerResponse,
    o: Extract<ReturnType<typeof parseDispatchHeaders>, { ok: true }>['options'],
    body: Buffer,
    now: number,
  ): Promise<void> {
    const key = o.idempotencyKey;
    if (key !== undefined) {
      const known = ctx.store.idempotentId(key, now) ?? (await pendingKeys.get(key)?.catch(() => undefined));
      if (known) {
        replyJson(res, 202, `{"id":"${known}"}`, {
          'x-dispatcher-message-id': known,
          'x-dispatcher-idempotent-replay': 'true',
        });
        return;
      }
    }
    const due = firstAttemptAt(o, now);
    const accepting = ctx.enqueue(
      (id) => ({
        message: {
          id,
          body,
          headers: forwardHeaders(req.headers),
          attempt: 0,
          createdAt: now,
          ...(due > now ? { notBefore: due } : {}),
        },
        method: req.method ?? 'GET',
        target: `${o.destination.origin}${buildTargetPath(o.destination, req.url ?? '/')}`,
        ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
        ...(o.retryLimit === undefined ? {} : { retryLimit: o.retryLimit }),
        ...(key === undefined ? {} : { idempotencyKey: key }),
        ...(o.callbackUrl ? { callbackUrl: o.callbackUrl.href } : {}),
        ...(o.failureCallbackUrl ? { failureCallbackUrl: o.failureCallbackUrl.href } : {}),
        kind: 'request',
      }),
      now,
      key,
    );
    if (key !== undefined) {
      pendingKeys.set(key, accepting);
      void accepting.finally(() => pendingKeys.delete(key)).catch(() => {});
    }
    const id = await accepting;
    // Ids are hex and dashes: the body needs no serializer on the hottest path.
    replyJson(res, 202, `{"id":"${id}"}`, { 'x-dispatcher-message-id': id });
  }
}
