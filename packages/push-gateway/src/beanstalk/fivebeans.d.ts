// Minimal typings for fivebeans 1.5.0 (it ships none); only beanstalk-client.ts imports it.
declare module 'fivebeans' {
  import { EventEmitter } from 'node:events';
  import type { Socket } from 'node:net';

  type Callback = (err: string | null, ...results: unknown[]) => void;

  class FiveBeansClient extends EventEmitter {
    constructor(host: string, port: number);
    stream: Socket | null;
    /** Bytes received and not yet matched to a reply (internal to fivebeans; see beanstalk-client.ts). */
    buffer: Buffer | undefined;
    /** Matches `buffer` against the pending replies, calling back each complete one (internal). */
    tryHandlingResponse(): void;
    connect(): void;
    end(): void;
    use(tube: string, cb: Callback): void;
    put(priority: number, delay: number, ttr: number, payload: Buffer, cb: Callback): void;
    watch(tube: string, cb: Callback): void;
    ignore(tube: string, cb: Callback): void;
    reserve_with_timeout(seconds: number, cb: Callback): void;
    destroy(jobId: number, cb: Callback): void;
    release(jobId: number, priority: number, delay: number, cb: Callback): void;
    bury(jobId: number, priority: number, cb: Callback): void;
    touch(jobId: number, cb: Callback): void;
    kick(bound: number, cb: Callback): void;
    kick_job(jobId: number, cb: Callback): void;
    peek_ready(cb: Callback): void;
    peek_buried(cb: Callback): void;
    stats_tube(tube: string, cb: Callback): void;
    list_tubes(cb: Callback): void;
  }

  const fivebeans: { client: typeof FiveBeansClient; LOWEST_PRIORITY: number };
  export default fivebeans;
  export type { FiveBeansClient };
}
