export { GO_TASK_CONTENT_TYPE, type GoArg, type GoArgType, goArg, goCodec } from './codec/go-codec.js';
export { JSON_TASK_CONTENT_TYPE, jsonCodec } from './codec/json-codec.js';
export { DEFAULT_CODECS } from './codec/select-codec.js';
export type { TaskBody, TaskCodec } from './codec/task-codec.js';
export type { ConnectionState } from './connection/connection-manager.js';
export {
  type DefineTaskOptions,
  defineTask,
  type ResultOf,
  type TaskDefinition,
} from './define-task.js';
export { delayBucketMs, MAX_DELAY_MS } from './delay-queues.js';
export { TasksError, type TasksErrorCode, TasksErrorCodes } from './errors.js';
export { DIRECT_REPLY_TO } from './rpc-client.js';
export {
  type CallOptions,
  type NamedPublishOptions,
  type PublishOptions,
  Server,
  type ServerStats,
  type TaskArgs,
  type TaskName,
  type TaskResult,
} from './server.js';
export {
  type ContextPropagation,
  DEFAULT_SERVER_OPTIONS,
  type ReconnectOptions,
  type ServerOptions,
  type TlsOptions,
} from './server-options.js';
export { resolveTask, type Task } from './task.js';
export type {
  AnyTaskConfig,
  ParseSchema,
  RetryOptions,
  TaskConfig,
  TaskContext,
  TaskFunction,
  UuidFirstTaskConfig,
  UuidFirstTaskFunction,
} from './task-config.js';
export type {
  DeadLetterReason,
  TaskEventBase,
  TasksEventListener,
  TasksEventMap,
  TasksEventName,
} from './task-events.js';
export { TaskHeaders } from './task-headers.js';
export type { TaskReply } from './task-reply.js';
export { deadLetterQueueName, type ExchangeType, type QueueSpec } from './topology.js';
export { Worker, type WorkerStats } from './worker/worker.js';
export {
  DEFAULT_WORKER_OPTIONS,
  defaultPrefetch,
  type RateLimit,
  type WorkerOptions,
} from './worker-options.js';
