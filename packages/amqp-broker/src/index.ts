export { BROKER_SERVER_DEFAULTS, type BrokerServerOptions } from './broker-server-options.js';
export { CLOSE_CONNECTION_DEFAULTS, type CloseConnectionOptions } from './close-connection-options.js';
export type { ConnectionInfo } from './connection-info.js';
export {
  AmqpError,
  type AmqpErrorOptions,
  type AmqpErrorScope,
  BrokerError,
  type BrokerErrorCode,
  BrokerErrorCodes,
} from './errors.js';
export { BrokerServer } from './server.js';
export type { StoreRecoveryReport } from './store/broker-store.js';
