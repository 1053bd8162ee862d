/**
 * The seam between the senders and HTTP: `PushTransport.send`. {@link UndiciPushTransport} is the real one:
 * undici with the destination policy of `@dispatcher/core/http` enforced on every new socket (so a DNS answer
 * cannot smuggle a refused address past a URL check).
 */
import { DispatcherError } from '@dispatcher/core';
import {
  createDestinationPolicy,
  createSafeConnector,
  type DestinationPolicy,
  type SafeConnectorOptions,
} from '@dispatcher/core/http';
import { Agent, request } from 'undici';
import { PushError } from '../errors.js';
import type { PushResponse } from './push-outcome.js';

/** One HTTP attempt. */
export interface PushAttempt {
  readonly url: string;
  readonly body: string;
  readonly headers: Record<string, string>;
  /** Whole-attempt deadline, ms. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface PushTransport {
  /** Sends; resolves any HTTP answer, rejects with `DSP_PUSH_HTTP_*` / `DSP_PUSH_DESTINATION_REFUSED` otherwise. */
  send(attempt: PushAttempt): Promise<PushResponse>;
  close(): Promise<void>;
}

/** Options of {@link UndiciPushTransport}. */
export interface UndiciPushTransportOptions {
  /** Connections kept per origin. @defaultValue 128 */
  connectionsPerOrigin?: number;
  /** Largest response body read, bytes (the rest is discarded). @defaultValue 65536 */
  maxResponseBytes?: number;
  /**
   * Allow-list narrowing the destinations (`parseAllowedDestinations` grammar). Empty: the gateway's trust
   * model, core's `internal-network` preset (private and loopback allowed; link-local and cloud metadata refused).
   * @defaultValue []
   */
  allowedDestinations?: readonly string[];
  /** A ready policy instead of `allowedDestinations`. @defaultValue createDestinationPolicy({ preset: 'internal-network' }) */
  destinationPolicy?: DestinationPolicy;
}

/** Defaults of {@link UndiciPushTransportOptions}. */
export const UNDICI_PUSH_TRANSPORT_DEFAULTS = {
  connectionsPerOrigin: 128,
  maxResponseBytes: 65_536,
} as const;

export class UndiciPushTransport implements PushTransport {
  readonly #agent: Agent;
  readonly #maxBytes: number;
  readonly #policy: DestinationPolicy;
  /** `checkUrl` per scheme, userinfo and host: a push URL repeats for every push of a subscription. */
  readonly #checked = new Map<string, ReturnType<DestinationPolicy['checkUrl']>>();

  constructor(options: UndiciPushTransportOptions = {}) {
    this.#policy =
      options.destinationPolicy ??
      createDestinationPolicy({
        preset: 'internal-network',
        allowed: options.allowedDestinations ?? [],
        settingName: 'AllowedDestinations',
      });
    this.#maxBytes = options.maxResponseBytes ?? UNDICI_PUSH_TRANSPORT_DEFAULTS.maxResponseBytes;
    this.#agent = new Agent({
      connections: options.connectionsPerOrigin ?? UNDICI_PUSH_TRANSPORT_DEFAULTS.connectionsPerOrigin,
      keepAliveTimeout: 10_000,
      // The original skips certificate checks (InsecureSkipVerify); subscribers rely on that.
      connect: createSafeConnector(this.#policy, { rejectUnauthorized: false } as SafeConnectorOptions),
    });
  }

  async send(attempt: PushAttempt): Promise<PushResponse> {
    const url = new URL(attempt.url);
    const key = `${url.protocol}|${url.username}|${url.password}|${url.host}`;
    let check = this.#checked.get(key);
    if (!check) {
      check = this.#policy.checkUrl(url);
      if (this.#checked.size >= 1_024) this.#checked.clear();
      this.#checked.set(key, check);
    }
    if (!check.ok) throw new PushError('DSP_PUSH_DESTINATION_REFUSED', check.reason);
    // One controller and timer per attempt: AbortSignal.any() over the long-lived shutdown signal costs a
    // weak reference per push on Node 20 and showed up in profiles.
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort(new PushError('DSP_PUSH_HTTP_TIMEOUT', `no response within ${attempt.timeoutMs} ms`));
    }, attempt.timeoutMs);
    const stop = attempt.signal;
    const onStop = () => abort.abort(stop?.reason);
    if (stop?.aborted) onStop();
    else stop?.addEventListener('abort', onStop, { once: true });
    const signal = abort.signal;
    try {
      const res = await request(url, {
        method: 'POST',
        headers: attempt.headers,
        body: attempt.body,
        dispatcher: this.#agent,
        signal,
        headersTimeout: attempt.timeoutMs,
        bodyTimeout: attempt.timeoutMs,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (size < this.#maxBytes) chunks.push(chunk);
        size += chunk.length;
      }
      const retryAfter = res.headers['retry-after'];
      return {
        status: res.statusCode,
        body: Buffer.concat(chunks).subarray(0, this.#maxBytes).toString('utf8'),
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
      };
    } catch (err) {
      const refused = [err, (err as { cause?: unknown }).cause].find((e) =>
        DispatcherError.hasCode(e, 'DSP_CORE_DESTINATION_NOT_ALLOWED'),
      );
      if (refused)
        throw new PushError('DSP_PUSH_DESTINATION_REFUSED', (refused as Error).message, {
          cause: refused as Error,
        });
      if (PushError.isInstance(err)) throw err;
      const e = err as Error & { code?: string };
      timedOut ||=
        e.code === 'UND_ERR_HEADERS_TIMEOUT' ||
        e.code === 'UND_ERR_BODY_TIMEOUT' ||
        e.code === 'UND_ERR_CONNECT_TIMEOUT';
      throw new PushError(
        timedOut ? 'DSP_PUSH_HTTP_TIMEOUT' : 'DSP_PUSH_HTTP_FAILED',
        timedOut ? `no response within ${attempt.timeoutMs} ms` : `push failed: ${e.message}`,
        { cause: e },
      );
    } finally {
      clearTimeout(timer);
      stop?.removeEventListener('abort', onStop);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
