import { randomUUID } from 'node:crypto';
import { TasksError } from './errors.js';

/**
 * A task as users of the Go `dispatcher` know it. `uuid` is generated when empty, `routingKey` defaults to
 * the server's `defaultRoutingKey`; `headers` become AMQP headers (they steer routing with a headers
 * exchange and carry tracing context).
 */
export interface Task<A = unknown> {
  /** Task id; a random UUID (v4, as the Go library's) is generated when empty. */
  uuid?: string;
  /** Name the worker looks the function up by; required. */
  name: string;
  /** Routing key on the server's exchange; the server's `defaultRoutingKey` when empty. */
  routingKey?: string;
  /** Arguments; with the Go codec an array of `string | number | boolean` (or {@link goArg} values). */
  args?: A;
  /** AMQP headers sent with the task. */
  headers?: Record<string, unknown>;
}

/** A task with its defaults applied, ready for a codec. */
export interface ResolvedTask {
  uuid: string;
  name: string;
  routingKey: string;
  args: unknown;
  headers: Record<string, unknown>;
}

/** Applies the defaults of {@link Task} and rejects what can never be delivered. */
export function resolveTask(task: Task, defaultRoutingKey: string): ResolvedTask {
  if (typeof task !== 'object' || task === null) {
    throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'task must be an object');
  }
  if (typeof task.name !== 'string' || task.name === '') {
    throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'task.name is required', { details: { task } });
  }
  const routingKey = task.routingKey || defaultRoutingKey;
  // Only a key of more than 85 characters can exceed 255 bytes of UTF-8 (no byte count per publish).
  if (routingKey.length > 85 && Buffer.byteLength(routingKey) > 255) {
    throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'task.routingKey is longer than 255 bytes');
  }
  return {
    // randomUUID draws from a pooled entropy cache: far cheaper per task than a fresh random fill.
    uuid: task.uuid || randomUUID(),
    name: task.name,
    routingKey,
    args: task.args === undefined ? [] : task.args,
    headers: { ...task.headers },
  };
}
