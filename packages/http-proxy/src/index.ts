export { ProxyError, type ProxyErrorCode, ProxyErrorCodes } from './errors.js';
