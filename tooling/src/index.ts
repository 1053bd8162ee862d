/**
 * Test-service layer of the Dispatcher monorepo: private redis-server and beanstalkd processes, the
 * RabbitMQ reachability check and helpers they are built on, and headless Chromium (Debian's, driven by
 * playwright-core) for page tests. The vitest globalSetup factory lives in the
 * `@dispatcher/tooling/vitest-services` entry point so that importing this one never touches vitest.
 *
 * @packageDocumentation
 */

export type { Browser, BrowserContext, Page } from 'playwright-core';
export {
  type BeanstalkdService,
  type RestartBeanstalkdOptions,
  type StartBeanstalkdOptions,
  startBeanstalkd,
} from './beanstalkd-process.js';
export { type EnsureBinaryOptions, ensureBinary, findBinary, MissingBinaryError } from './ensure-binary.js';
export {
  type CheckErrorDocOptions,
  checkErrorDoc,
  type ErrorDocRow,
  readErrorDocCodes,
  readErrorDocRows,
  readErrorSourceMeanings,
  readRetiredErrorCodes,
} from './error-doc.js';
export { type EventuallyOptions, eventually } from './eventually.js';
export { type FileLockOptions, withFileLock } from './file-lock.js';
export { getFreePort } from './free-port.js';
export {
  CHROMIUM_DEBIAN_PACKAGE,
  CHROMIUM_PATH,
  type LaunchChromiumOptions,
  launchChromium,
} from './launch-chromium.js';
export {
  type LaunchOptions,
  launchManagedProcess,
  type ManagedProcess,
  ServiceStartError,
  type StopOptions,
} from './managed-process.js';
export {
  killTrackedProcessesSync,
  type TrackedProcess,
  trackedProcesses,
  trackProcess,
} from './process-registry.js';
export {
  type AssertRabbitMQReachableOptions,
  assertRabbitMQReachable,
  DEFAULT_RABBITMQ_URL,
  rabbitmqUrl,
} from './rabbitmq.js';
export {
  type EnsureRabbitMQManagementOptions,
  ensureRabbitMQManagement,
  type RabbitMQManagement,
} from './rabbitmq-management.js';
export { rabbitmqCloseConnectionsNamed, rabbitmqctl, withRabbitmqVhost } from './rabbitmqctl.js';
export {
  type LogEntry,
  type RecordingLogFn,
  type RecordingLogger,
  recordingLogger,
} from './recording-logger.js';
export { type RedisService, type StartRedisOptions, startRedis } from './redis-server-process.js';
export {
  createServiceStateDir,
  reapOrphanedServices,
  recordServicePid,
  SERVICE_DIR_PREFIX,
} from './service-state-dir.js';
export { type TcpExchangeOptions, tcpExchange } from './tcp-exchange.js';
export {
  makeTestPki,
  type SelfSignedCertificateOptions,
  selfSignedCertificate,
  type TestCertificate,
  type TestPki,
} from './test-certificates.js';
export { type ThrownError, thrown } from './thrown.js';
export { fillFileSystem, mountTmpfs, type Tmpfs, type TmpfsResult } from './tmpfs.js';
