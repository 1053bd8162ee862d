export { BROKER_SERVER_DEFAULTS, type BrokerServerOptions } from './broker-server-options.js';
export {
  AmqpError,
  type AmqpErrorOptions,
  type AmqpErrorScope,
  BrokerError,
  type BrokerErrorCode,
  BrokerErrorCodes,
} from './errors.js';
export { BrokerServer } from './server.js';
