import type { Logger } from '@dispatcher/core';
import type { BeanstalkClientApi } from './beanstalk-types.js';

/**
 * Touches a reserved job while work on it goes on (every half TTR, at most every second: the producer may have
 * set a shorter TTR than ours), so a slow push does not let the job time out and run twice, while a killed
 * process's job still comes back within one TTR.
 */
export class JobKeepAlive {
  readonly #timer: NodeJS.Timeout;

  constructor(client: BeanstalkClientApi, jobId: number, ttrSec: number, log: Logger) {
    const everyMs = Math.max(250, Math.min(1_000, (ttrSec * 1000) / 2));
    this.#timer = setInterval(() => {
      client.touch(jobId).catch((err: unknown) => log.debug({ err, jobId }, 'touch failed'));
    }, everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
