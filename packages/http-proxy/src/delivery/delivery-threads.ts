/**
 * Outbound HTTP calls on worker threads, so the thread that owns the log spends its time on ingest and
 * bookkeeping. The engine still decides every outcome and records it (success, retry-at, dead-letter):
 * a thread only makes the call and reports the answer, so nothing durable depends on a thread, and the
 * crash guarantees are those of the log owner.
 *
 *   engine #call ─▶ batch per thread (one message per loop turn, bodies in one transferred buffer)
 *        ▲                                     │
 *        └── status + Retry-After | error ◀────┘   a thread that dies: its calls fail as "our side"
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '@dispatcher/core';
import { ProxyError } from '../errors.js';
import { type AttemptSignal, abortReason } from './attempt-signal.js';
import { type FromThread, fromWireError, type ToThread, type WireCall } from './delivery-wire.js';
import type { DeliveryThreadData } from './delivery-worker.js';

export interface DeliveryThreadsOptions {
  /** Worker threads making calls. */
  threads: number;
  /** As `HttpProxyOptions.allowedDestinations` (each thread checks destinations itself). */
  allowedDestinations: readonly string[] | undefined;
  /** Connections per origin, per thread. */
  connections: number;
  logger: Logger;
}

/** One HTTP call to make on a thread. */
export interface ThreadCall {
  origin: string;
  path: string;
  method: string;
  headers: Record<string, string | string[]>;
  body: Uint8Array;
  timeoutMs: number;
}

/** The destination's answer, or the error that stood in for one (connection refused, timeout, abort…). */
export type ThreadAnswer = { status: number; retryAfter?: string } | { error: Error };

interface Pending {
  resolve: (a: ThreadAnswer) => void;
  reject: (err: Error) => void;
  signal: AttemptSignal;
  onAbort: () => void;
  thread: Thread;
}

interface Thread {
  worker: Worker;
  queued: Array<{ call: ThreadCall; id: number }>;
  flush: NodeJS.Immediate | undefined;
  ids: Set<number>;
  /** Settles once the thread has loaded (or exited before it did). */
  ready: Promise<void>;
  onReady: (err?: Error) => void;
  closed?: () => void;
}

export class DeliveryThreads {
  readonly #opts: DeliveryThreadsOptions;
  readonly #log: Logger;
  readonly #threads: Array<Thread | undefined>;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #rr = 0;
  #closing: Promise<void> | undefined;

  constructor(options: DeliveryThreadsOptions) {
    this.#opts = options;
    this.#log = options.logger.child({ component: 'delivery-threads' });
    this.#threads = Array.from({ length: options.threads }, () => undefined);
    for (let i = 0; i < options.threads; i++) this.#threads[i] = this.#spawn(i);
  }

  /**
   * Resolves once every thread has loaded its code, so the first calls' timeouts do not count the load;
   * rejects with `DSP_PROXY_DELIVERY_THREAD` when one cannot start.
   */
  async ready(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t?.ready));
  }

  /** Calls in flight on the threads. */
  get inflight(): number {
    return this.#pending.size;
  }

  /**
   * Makes `call` on a thread. Resolves with the answer or the call's own error (also on `signal`'s abort,
   * with its reason, at once); rejects with `DSP_PROXY_DELIVERY_THREAD` when the thread died or the pool is
   * closed, so the caller treats it as a failure on its side, not the destination's.
   */
  request(call: ThreadCall, signal: AttemptSignal): Promise<ThreadAnswer> {
    if (this.#closing)
      return Promise.reject(new ProxyError('DSP_PROXY_CLOSED', 'the delivery threads are closed'));
    if (signal.aborted) return Promise.resolve({ error: abortReason(signal) });
    const index = this.#rr;
    this.#rr = (this.#rr + 1) % this.#threads.length;
    const thread = this.#threads[index] ?? this.#spawn(index);
    this.#threads[index] = thread;
    const id = this.#nextId++;
    return new Promise<ThreadAnswer>((resolve, reject) => {
      const onAbort = () => {
        if (!this.#settle(id)) return;
        thread.worker.postMessage({ type: 'abort', ids: [id] } satisfies ToThread);
        resolve({ error: abortReason(signal) });
      };
      signal.once('abort', onAbort);
      this.#pending.set(id, { resolve, reject, signal, onAbort, thread });
      thread.ids.add(id);
      thread.queued.push({ call, id });
      // One message per loop turn: calls started together go together.
      thread.flush ??= setImmediate(() => this.#flush(thread));
    });
  }

  /** Asks each thread to abort its calls and close its connections, then ends it. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const threads = this.#threads.filter((t): t is Thread => t !== undefined);
      this.#threads.fill(undefined);
      // Calls still out get no answer: a failure on our side, never an outcome of the destination's.
      this.#failAll(undefined, 'the delivery threads are closed');
      await Promise.all(
        threads.map(async (t) => {
          const closed = new Promise<void>((resolve) => {
            t.closed = resolve;
          });
          t.worker.postMessage({ type: 'close' } satisfies ToThread);
          // A thread that does not answer in time is ended anyway (its sockets go with it).
          const timer = setTimeout(() => t.closed?.(), 2_000);
          await closed;
          clearTimeout(timer);
          await t.worker.terminate();
        }),
      );
    })();
    return this.#closing;
  }

  #spawn(index: number): Thread {
    const data: DeliveryThreadData = {
      allowedDestinations: [...(this.#opts.allowedDestinations ?? [])],
      connections: this.#opts.connections,
    };
    const options = { workerData: data, name: `dispatcher-delivery-${index}` };
    const worker = import.meta.url.endsWith('.ts')
      ? // From source (tests, the bench): the thread registers tsx first (a worker's --import does not
        // apply to its entry module on Node 20).
        new Worker(
          `import(${JSON.stringify(pathToFileURL(tsxApi()).href)})` +
            `.then((m) => { m.register(); return import(${JSON.stringify(new URL('./delivery-worker.ts', import.meta.url).href)}); })`,
          { ...options, eval: true },
        )
      : new Worker(new URL('./delivery-worker.js', import.meta.url), options);
    // The engine's own timers keep the process alive while calls are in flight.
    worker.unref();
    let onReady: (err?: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      onReady = (err) => (err ? reject(err) : resolve());
    });
    ready.catch(() => {}); // also reported through the exit handler's log
    const thread: Thread = { worker, queued: [], flush: undefined, ids: new Set(), ready, onReady };
    worker.on('message', (msg: FromThread) => this.#onMessage(thread, msg));
    worker.on('error', (err) => this.#log.error({ err, thread: index }, 'delivery thread failed'));
    worker.on('exit', (code) => {
      thread.closed?.();
      thread.onReady(new ProxyError('DSP_PROXY_DELIVERY_THREAD', `delivery thread exited with code ${code}`));
      if (this.#threads[index] === thread) this.#threads[index] = undefined;
      if (!this.#closing)
        this.#log.error({ code, thread: index }, 'delivery thread exited; its calls are made again');
      this.#failAll(thread, `delivery thread exited with code ${code}`);
    });
    return thread;
  }

  #flush(thread: Thread): void {
    thread.flush = undefined;
    const queued = thread.queued;
    thread.queued = [];
    let total = 0;
    for (const q of queued) total += q.call.body.length;
    // One buffer for every body of the batch, transferred rather than copied by the message.
    const bodies = new ArrayBuffer(total);
    const view = new Uint8Array(bodies);
    const calls: WireCall[] = [];
    let off = 0;
    for (const { call, id } of queued) {
      if (!this.#pending.has(id)) continue; // aborted before it left
      view.set(call.body, off);
      calls.push({
        i: id,
        o: call.origin,
        p: call.path,
        m: call.method,
        h: call.headers,
        off,
        len: call.body.length,
        t: call.timeoutMs,
      });
      off += call.body.length;
    }
    if (calls.length === 0) return;
    const msg: ToThread = { type: 'calls', calls: JSON.stringify(calls), bodies };
    thread.worker.postMessage(msg, [bodies]);
  }

  #onMessage(thread: Thread, msg: FromThread): void {
    switch (msg.type) {
      case 'results':
        for (const r of msg.results) {
          const p = this.#pending.get(r.i);
          if (!p || !this.#settle(r.i)) continue;
          if ('e' in r) p.resolve({ error: fromWireError(r.e) });
          else p.resolve(r.ra === undefined ? { status: r.s } : { status: r.s, retryAfter: r.ra });
        }
        break;
      case 'ready':
        thread.onReady();
        break;
      case 'closed':
        thread.closed?.();
        break;
      default:
        msg satisfies never;
    }
  }

  /** Forgets call `id`; false when it was settled already. */
  #settle(id: number): boolean {
    const p = this.#pending.get(id);
    if (!p) return false;
    this.#pending.delete(id);
    p.thread.ids.delete(id);
    p.signal.removeListener('abort', p.onAbort);
    return true;
  }

  /** Rejects the calls of `thread` (every call when undefined): they never got an answer. */
  #failAll(thread: Thread | undefined, why: string): void {
    const ids = thread ? [...thread.ids] : [...this.#pending.keys()];
    for (const id of ids) {
      const p = this.#pending.get(id);
      if (!p || !this.#settle(id)) continue;
      p.reject(new ProxyError('DSP_PROXY_DELIVERY_THREAD', why));
    }
  }
}

/** tsx's ESM API (the `import` condition of `tsx/esm/api`, beside the `require` one this resolves). */
function tsxApi(): string {
  return createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
}
