/**
 * A delivery thread: makes the HTTP calls the log owner hands it (undici, through the same destination
 * policy and safe connector as the main thread) and reports each answer back. It holds no durable state:
 * the log owner decides, records and schedules; a call lost with this thread is made again by it.
 *
 *   calls batch ─▶ undici request (timeout, abort) ─▶ status + Retry-After | error tree ─▶ results batch
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createDestinationPolicy, createSafeConnector } from '@dispatcher/core/http';
import { Agent, type Dispatcher } from 'undici';
import { AttemptSignal } from './attempt-signal.js';
import {
  type FromThread,
  type ToThread,
  toWireError,
  type WireCall,
  type WireResult,
} from './delivery-wire.js';

/** What the pool passes to each thread. */
export interface DeliveryThreadData {
  allowedDestinations: readonly string[];
  /** Connections per origin. */
  connections: number;
}

// The response body is read and dropped (keep-alive needs it consumed); no need to hold more than this.
const MAX_RESPONSE_BYTES = 1024 * 1024;

const port = parentPort;
if (!port) throw new Error('delivery-worker runs as a worker thread');
const data = workerData as DeliveryThreadData;
const agent = new Agent({
  connect: createSafeConnector(createDestinationPolicy({ allowed: [...data.allowedDestinations] })),
  keepAliveTimeout: 30_000,
  connections: data.connections,
});
const inflight = new Map<number, AttemptSignal>();
let results: WireResult[] = [];
let flushing = false;

function report(r: WireResult): void {
  results.push(r);
  if (flushing) return;
  // One message per loop turn: answers that arrive together go back together.
  flushing = true;
  setImmediate(() => {
    flushing = false;
    const out: FromThread = { type: 'results', results };
    results = [];
    port?.postMessage(out);
  });
}

async function call(c: WireCall, bodies: ArrayBuffer): Promise<void> {
  const signal = new AttemptSignal();
  inflight.set(c.i, signal);
  try {
    const res = await agent.request({
      origin: c.o,
      path: c.p,
      method: c.m as Dispatcher.HttpMethod,
      headers: c.h,
      body: c.len > 0 ? Buffer.from(bodies, c.off, c.len) : null,
      signal,
      headersTimeout: c.t,
      bodyTimeout: c.t,
    });
    await res.body.dump({ limit: MAX_RESPONSE_BYTES });
    const ra = res.headers['retry-after'];
    report(typeof ra === 'string' ? { i: c.i, s: res.statusCode, ra } : { i: c.i, s: res.statusCode });
  } catch (err) {
    report({ i: c.i, e: toWireError(err) });
  } finally {
    inflight.delete(c.i);
  }
}

port.on('message', (msg: ToThread) => {
  switch (msg.type) {
    case 'calls':
      for (const c of JSON.parse(msg.calls) as WireCall[]) void call(c, msg.bodies);
      break;
    case 'abort':
      for (const id of msg.ids) inflight.get(id)?.abort(new Error('aborted by the dispatcher'));
      break;
    case 'close':
      for (const signal of inflight.values()) signal.abort(new Error('dispatcher shutting down'));
      agent.close().then(
        () => port.postMessage({ type: 'closed' } satisfies FromThread),
        () => port.postMessage({ type: 'closed' } satisfies FromThread),
      );
      break;
    default:
      msg satisfies never;
  }
});
port.postMessage({ type: 'ready' } satisfies FromThread);
