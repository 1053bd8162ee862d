export { diskFreeBytes } from './alarms/disk-free-bytes.js';
export { processMemoryBytes } from './alarms/process-memory-bytes.js';
export type {
  DiskAlarmStatus,
  MemoryAlarmStatus,
  ResourceAlarmStatus,
} from './alarms/resource-alarm-status.js';
export { totalMemoryBytes } from './alarms/total-memory-bytes.js';
export {
  BCRYPT_CACHE_DEFAULTS,
  BCRYPT_ROUNDS,
  BcryptCache,
  type BcryptCacheOptions,
  DEFAULT_HASHING_ALGORITHM,
  HASHING_ALGORITHMS,
  type HashingAlgorithm,
  hashPassword,
  isHashingAlgorithm,
  isValidHash,
  verifyPassword,
} from './auth/password-hash.js';
export {
  exchangeResourceName,
  type Permission,
  type PermissionKind,
  PermissionStore,
  type PermissionStoreChange,
} from './auth/permission-store.js';
export {
  type KnownUserTag,
  USER_TAGS,
  type User,
  type UserInput,
  UserStore,
  type UserStoreChange,
} from './auth/user-store.js';
export {
  BROKER_SERVER_DEFAULTS,
  type BrokerServerOptions,
  type BrokerUserOptions,
  type MemoryHighWatermark,
  TLS_LISTENER_DEFAULTS,
  type TlsListenerOptions,
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
export { resolveUiDir, UI_CONTENT_SECURITY_POLICY, UI_SECURITY_HEADERS } from './ui-assets.js';
