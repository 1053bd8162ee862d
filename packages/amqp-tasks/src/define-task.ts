import type { z } from 'zod';
import type { RetryOptions, TaskConfig, TaskContext, UuidFirstTaskConfig } from './task-config.js';

/** Options of {@link defineTask}. */
export interface DefineTaskOptions<N extends string, S extends z.ZodType, R extends z.ZodType | undefined> {
  /** The task name on the wire. */
  name: N;
  /** Schema of the arguments, checked when publishing and again in the worker. */
  schema: S;
  /** Optional schema of the result, checked in the worker and by `call()`. */
  result?: R;
  /**
   * Default timeout of one run, in milliseconds (see `TaskConfig.timeoutMs`).
   * @defaultValue the worker's `defaultTimeoutMs`
   */
  timeoutMs?: number;
  /** Default retry policy (see `TaskConfig.retry`). */
  retry?: RetryOptions;
}

/** The result type of a definition: the result schema's output, else `unknown`. */
export type ResultOf<R> = R extends z.ZodType ? z.output<R> : unknown;

/** A task defined once and shared by publishers and workers. */
export interface TaskDefinition<
  N extends string = string,
  S extends z.ZodType = z.ZodType,
  R extends z.ZodType | undefined = z.ZodType | undefined,
> {
  readonly name: N;
  readonly schema: S;
  readonly result: R | undefined;
  readonly timeoutMs: number | undefined;
  readonly retry: RetryOptions | undefined;
  /** A worker registration for this task: `tasks: { [def.name]: def.handler(fn) }`. */
  handler(
    fn: (args: z.output<S>, ctx: TaskContext) => ResultOf<R> | Promise<ResultOf<R>>,
    overrides?: Pick<TaskConfig, 'timeoutMs' | 'retry'>,
  ): TaskConfig;
  /** Like {@link handler}, with the task uuid as first argument (the Go `TaskUUIDAsFirstArg`). */
  handlerWithUuid(
    fn: (uuid: string, args: z.output<S>, ctx: TaskContext) => ResultOf<R> | Promise<ResultOf<R>>,
    overrides?: Pick<TaskConfig, 'timeoutMs' | 'retry'>,
  ): UuidFirstTaskConfig;
}

/**
 * Defines a task once with a zod schema for its arguments (and optionally its result). Publishing by name
 * through a server that lists the definition is type-checked and validated; workers validate again.
 *
 * @example
 * ```ts
 * const resize = defineTask({ name: 'resize', schema: z.object({ url: z.url(), width: z.int() }) });
 * const server = new Server({ ..., tasks: [resize] });
 * await server.publish('resize', { url, width: 320 });
 * server.newWorker({ name: 'w', queue: 'images' }, { resize: resize.handler(async ({ url, width }) => …) });
 * ```
 */
export function defineTask<
  N extends string,
  S extends z.ZodType,
  R extends z.ZodType | undefined = undefined,
>(options: DefineTaskOptions<N, S, R>): TaskDefinition<N, S, R> {
  const { name, schema, result, timeoutMs, retry } = options;
  const common = (overrides: Pick<TaskConfig, 'timeoutMs' | 'retry'> | undefined) => ({
    schema,
    ...(result ? { result } : {}),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(retry === undefined ? {} : { retry }),
    ...overrides,
  });
  const definition: TaskDefinition<N, S, R> = {
    name,
    schema,
    result,
    timeoutMs,
    retry,
    handler(fn, overrides): TaskConfig {
      // The worker has parsed args with `schema` before calling, so they are the schema's output.
      return { ...common(overrides), fn: (args, ctx) => fn(args as z.output<S>, ctx) };
    },
    handlerWithUuid(fn, overrides): UuidFirstTaskConfig {
      return {
        ...common(overrides),
        uuidAsFirstArg: true,
        fn: (uuid, args, ctx) => fn(uuid, args as z.output<S>, ctx),
      };
    },
  };
  return Object.freeze(definition);
}
