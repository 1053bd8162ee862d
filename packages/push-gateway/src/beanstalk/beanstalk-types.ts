/** A reserved (or peeked) job. */
export interface BeanstalkJob {
  /** beanstalkd job id (fits a JS number on any realistic server). */
  readonly id: number;
  readonly payload: Buffer;
}

/** Options of {@link BeanstalkClient.put}. */
export interface PutOptions {
  /** Priority, lower = more urgent. @defaultValue 1024 */
  readonly priority?: number;
  /** Seconds before the job becomes ready. @defaultValue 0 */
  readonly delaySec?: number;
  /** Time-to-run in seconds. @defaultValue 60 */
  readonly ttrSec?: number;
}

/** Common per-call options. */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

/** Tube for commands that act on the tube in use: `use tube` is sent right before them. */
export interface TubeOption {
  /** Tube to `use` first; the tube last used when absent. */
  readonly tube?: string;
}

/** Subset of `stats-tube` output used by the gateway (numbers as beanstalkd reports them). */
export interface TubeStats {
  readonly name: string;
  readonly 'current-jobs-urgent': number;
  readonly 'current-jobs-ready': number;
  readonly 'current-jobs-reserved': number;
  readonly 'current-jobs-delayed': number;
  readonly 'current-jobs-buried': number;
  readonly 'total-jobs': number;
  readonly 'current-using': number;
  readonly 'current-watching': number;
  readonly 'current-waiting': number;
  readonly [key: string]: string | number;
}

/** Connection state of a client (see the diagram in beanstalk-client.ts). */
export type BeanstalkConnectionState = 'idle' | 'connecting' | 'ready' | 'reconnecting' | 'closed';

/**
 * Public surface of `BeanstalkClient` (beanstalk-client.ts), one beanstalkd server. Every call has a timeout
 * (`commandTimeoutMs`, reserve: its own timeout + margin), fails with a coded error when the connection drops,
 * and waits for the reconnect (with `use`/`watch` replayed) on the next call.
 */
export interface BeanstalkClientApi {
  /** `host:port` of the server. */
  readonly address: string;
  readonly state: BeanstalkConnectionState;
  /** Connects; resolves once the first connection is up. */
  connect(options?: CallOptions): Promise<void>;
  /** Puts a job into `tube` (sent as `use` + `put` back to back) or the tube in use; resolves the new job id. */
  put(payload: Uint8Array | string, options?: PutOptions & TubeOption & CallOptions): Promise<number>;
  use(tube: string, options?: CallOptions): Promise<void>;
  watch(tube: string, options?: CallOptions): Promise<number>;
  ignore(tube: string, options?: CallOptions): Promise<number>;
  /**
   * Reserves a job from the watched tubes; `undefined` when `timeoutSec` passes with no job.
   * The signal aborts the wait (the connection is then reset so no job is reserved behind our back).
   */
  reserve(timeoutSec: number, options?: CallOptions): Promise<BeanstalkJob | undefined>;
  delete(jobId: number, options?: CallOptions): Promise<void>;
  release(jobId: number, options?: { priority?: number; delaySec?: number } & CallOptions): Promise<void>;
  bury(jobId: number, options?: { priority?: number } & CallOptions): Promise<void>;
  touch(jobId: number, options?: CallOptions): Promise<void>;
  /** Kicks up to `bound` buried (or delayed) jobs of the tube in use; resolves how many were kicked. */
  kick(bound: number, options?: TubeOption & CallOptions): Promise<number>;
  kickJob(jobId: number, options?: CallOptions): Promise<void>;
  /** `stats-tube`; `undefined` when the tube does not exist. */
  statsTube(tube: string, options?: CallOptions): Promise<TubeStats | undefined>;
  listTubes(options?: CallOptions): Promise<string[]>;
  /** Peeks the next buried job of the tube in use; `undefined` when none. */
  peekBuried(options?: TubeOption & CallOptions): Promise<BeanstalkJob | undefined>;
  /** Peeks the next ready job of the tube in use; `undefined` when none. */
  peekReady(options?: TubeOption & CallOptions): Promise<BeanstalkJob | undefined>;
  /** Closes the connection; pending calls fail with DSP_PUSH_CLOSED. */
  close(): Promise<void>;
}
