/**
 * The seam between the senders and HTTP: `PushTransport.send`. {@link UndiciPushTransport} is the real one;
 * the destination check runs on every resolved address at connect time (so a DNS answer cannot smuggle a
 * refused address past a URL check).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent, request } from 'undici';
import { PushError } from '../errors.js';
import { type DestinationCheck, gatewayDestinationCheck } from './destination-check.js';
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
  /** Refuses destinations. @defaultValue gatewayDestinationCheck() */
  destinationCheck?: DestinationCheck;
}

export class UndiciPushTransport implements PushTransport {
  readonly #agent: Agent;
  readonly #maxBytes: number;

  constructor(options: UndiciPushTransportOptions = {}) {
    const check = options.destinationCheck ?? gatewayDestinationCheck();
    this.#maxBytes = options.maxResponseBytes ?? 65_536;
    this.#agent = new Agent({
      connections: options.connectionsPerOrigin ?? 128,
      keepAliveTimeout: 10_000,
      connect: {
        rejectUnauthorized: false,
        lookup: (hostname, opts, cb) => {
          dnsLookup(hostname, { ...opts, all: true }, (err, addresses) => {
            if (err) return cb(err, '', 0);
            const list = addresses as LookupAddress[];
            for (const a of list) {
              const refusal = check(a.address, hostname);
              if (refusal) return cb(new PushError('DSP_PUSH_DESTINATION_REFUSED', refusal), '', 0);
            }
            const first = list[0];
            if ((opts as { all?: boolean }).all)
              return (cb as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
            return cb(null, first?.address ?? '', first?.family ?? 4);
          });
        },
      },
    });
    this.#check = check;
  }

  readonly #check: DestinationCheck;

  async send(attempt: PushAttempt): Promise<PushResponse> {
    const url = new URL(attempt.url);
    // Literal IPs never reach lookup: check them here.
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (/^[\d.]+$/.test(host) || host.includes(':')) {
      const refusal = this.#check(host, host);
      if (refusal) throw new PushError('DSP_PUSH_DESTINATION_REFUSED', refusal);
    }
    const timeout = AbortSignal.timeout(attempt.timeoutMs);
    const signal = attempt.signal ? AbortSignal.any([attempt.signal, timeout]) : timeout;
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
      if (PushError.isInstance(err)) throw err;
      const cause = (err as { cause?: unknown }).cause;
      if (PushError.isInstance(cause)) throw cause;
      const e = err as Error & { code?: string };
      const timedOut =
        timeout.aborted ||
        e.code === 'UND_ERR_HEADERS_TIMEOUT' ||
        e.code === 'UND_ERR_BODY_TIMEOUT' ||
        e.code === 'UND_ERR_CONNECT_TIMEOUT';
      throw new PushError(
        timedOut ? 'DSP_PUSH_HTTP_TIMEOUT' : 'DSP_PUSH_HTTP_FAILED',
        timedOut ? `no response within ${attempt.timeoutMs} ms` : `push failed: ${e.message}`,
        { cause: e },
      );
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
