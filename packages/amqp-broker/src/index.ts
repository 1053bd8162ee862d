export { BrokerError, type BrokerErrorCode, BrokerErrorCodes } from './errors.js';
