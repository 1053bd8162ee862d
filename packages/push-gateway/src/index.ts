export { PushError, type PushErrorCode, PushErrorCodes } from './errors.js';
