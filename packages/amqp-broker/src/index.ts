export { diskFreeBytes } from './alarms/disk-free-bytes.js';
export { processMemoryBytes } from './alarms/process-memory-bytes.js';
export type {
  DiskAlarmStatus,
  MemoryAlarmStatus,
  ResourceAlarmStatus,
} from './alarms/resource-alarm-status.js';
export { totalMemoryBytes } from './alarms/total-memory-bytes.js';
export {
  BROKER_SERVER_DEFAULTS,
  type BrokerServerOptions,
  type MemoryHighWatermark,
} from './broker-server-options.js';
export { CLOSE_CONNECTION_DEFAULTS, type CloseConnectionOptions } from './close-connection-options.js';
export type { ChannelInfo, ConnectionInfo, ConsumerInfo } from './connection-info.js';
export {
  AmqpError,
  type AmqpErrorOptions,
  type AmqpErrorScope,
  BrokerError,
  type BrokerErrorCode,
  BrokerErrorCodes,
} from './errors.js';
export type { QueueStats } from './queue/queue-stats.js';
export { BROKER_VERSION, BrokerServer } from './server.js';
export type { StoreRecoveryReport } from './store/broker-store.js';
