/** What one load process does (see `load-process.ts`); passed as JSON in its first argument. */
export interface LoadSpec {
  /** Which client library the process runs. */
  readonly library: 'amqp-tasks' | 'amqplib' | 'bullmq';
  /**
   * `fill`: publish `tasks` at once, untimed (the backlog of a drain); `publish`: publish `tasks` with
   * `window` in flight once told to go; `work`: consume `tasks`, starting once told to go (`startOnGo`)
   * or at once (end to end, timed from the producer's start).
   */
  readonly role: 'fill' | 'publish' | 'work';
  /** `amqp://…` or `redis://…`. */
  readonly url: string;
  /** Queue (and, on AMQP, routing key) of the cell; the exchange is `<queue>.ex`. */
  readonly queue: string;
  readonly tasks: number;
  /** Publishes in flight (publishers) or tasks run at once (workers). */
  readonly window: number;
  readonly concurrency: number;
  readonly startOnGo: boolean;
}

/** What a load process reports when done: wall-clock times, in milliseconds since the epoch. */
export interface LoadResult {
  /** When the timed work began (go received, or the worker's start for end to end). */
  readonly startedAt: number;
  /** When the last task was confirmed (publishers) or settled towards the server (workers). */
  readonly endedAt: number;
  readonly tasks: number;
  /** CPU time (user + system) this process spent on the timed work, in microseconds. */
  readonly cpuMicros: number;
}

/** Wall-clock now with sub-millisecond resolution, comparable across processes of one machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}
