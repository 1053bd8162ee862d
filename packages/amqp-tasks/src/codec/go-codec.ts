import { TasksError } from '../errors.js';
import { parseJsonBody } from './parse-json-body.js';
import type { TaskBody, TaskCodec } from './task-codec.js';

/**
 * Wire format of the Go `dispatcher` library: a JSON body `{"uuid","name","args":[{"type","value"}]}`
 * with content type `application/json`, sent persistent. TypeScript and Go workers can share a queue
 * when publishers use this codec.
 *
 * Go calls the task function with one parameter per argument, converted by `type`; here the worker
 * receives the array of values. Integers beyond 2^53 lose precision in JavaScript.
 */
export const GO_TASK_CONTENT_TYPE = 'application/json';

/** Argument types the Go library can convert. */
export type GoArgType =
  | 'bool'
  | 'string'
  | 'int'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'float32'
  | 'float64';

const kGoArg = Symbol('dispatcher.goArg');

/** An argument with an explicit Go type (see {@link goArg}). */
export interface GoArg {
  readonly [kGoArg]: true;
  readonly type: GoArgType;
  readonly value: string | number | boolean;
}

const INT_RANGES: Record<string, readonly [number, number]> = {
  int8: [-128, 127],
  int16: [-32_768, 32_767],
  int32: [-2_147_483_648, 2_147_483_647],
  uint8: [0, 255],
  uint16: [0, 65_535],
  uint32: [0, 4_294_967_295],
  int: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint: [0, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

/** Why `value` is not a valid Go argument of `type`, or `undefined` when it is. */
function goArgProblem(type: string, value: unknown): string | undefined {
  if (type === 'bool') return typeof value === 'boolean' ? undefined : 'expected a boolean';
  if (type === 'string') return typeof value === 'string' ? undefined : 'expected a string';
  if (type === 'float32' || type === 'float64') {
    return typeof value === 'number' && Number.isFinite(value) ? undefined : 'expected a finite number';
  }
  const range = INT_RANGES[type];
  if (!range) return `unknown Go argument type ${JSON.stringify(type)}`;
  if (typeof value !== 'number' || !Number.isInteger(value)) return 'expected an integer';
  if (value < range[0] || value > range[1]) return `out of range for ${type}`;
  return undefined;
}

/** An argument with an explicit Go type, e.g. `goArg('int32', 7)`; checked at once. */
export function goArg(type: GoArgType, value: string | number | boolean): GoArg {
  const problem = goArgProblem(type, value);
  if (problem) {
    throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', `goArg(${type}): ${problem}`, {
      details: { type, value },
    });
  }
  return Object.freeze({ [kGoArg]: true as const, type, value });
}

function isGoArg(value: unknown): value is GoArg {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kGoArg] === true;
}

function toWireArg(value: unknown, index: number): { type: GoArgType; value: string | number | boolean } {
  if (isGoArg(value)) return { type: value.type, value: value.value };
  if (typeof value === 'string') return { type: 'string', value };
  if (typeof value === 'boolean') return { type: 'bool', value };
  if (typeof value === 'number' && Number.isFinite(value)) {
    return Number.isSafeInteger(value) ? { type: 'int', value } : { type: 'float64', value };
  }
  throw new TasksError(
    'DSP_TASKS_INVALID_ARGUMENT',
    `go codec: args[${index}] must be a string, boolean, finite number or goArg(); got ${typeof value}`,
  );
}

/** The Go `dispatcher` wire format (see {@link GO_TASK_CONTENT_TYPE}). */
export const goCodec: TaskCodec = Object.freeze({
  name: 'go',
  contentType: GO_TASK_CONTENT_TYPE,
  encode(body: TaskBody): Buffer {
    const args = body.args ?? [];
    if (!Array.isArray(args)) {
      throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'go codec: args must be an array');
    }
    return Buffer.from(JSON.stringify({ uuid: body.uuid, name: body.name, args: args.map(toWireArg) }));
  },
  decode(content: Buffer): TaskBody {
    const body = parseJsonBody(content, 'go codec');
    const raw = body.args ?? [];
    if (!Array.isArray(raw)) throw new TasksError('DSP_TASKS_DECODE', 'go codec: args must be an array');
    const args = raw.map((arg: unknown, index) => {
      if (typeof arg !== 'object' || arg === null) {
        throw new TasksError('DSP_TASKS_DECODE', `go codec: args[${index}] is not {type, value}`);
      }
      const { type, value } = arg as { type?: unknown; value?: unknown };
      const problem = typeof type === 'string' ? goArgProblem(type, value) : 'missing type';
      if (problem) throw new TasksError('DSP_TASKS_DECODE', `go codec: args[${index}]: ${problem}`);
      return value as string | number | boolean;
    });
    return { uuid: (body.uuid as string | undefined) ?? '', name: body.name as string, args };
  },
});
