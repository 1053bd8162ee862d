import type { ProvidedContext } from 'vitest';
import { type BeanstalkdService, startBeanstalkd } from './beanstalkd-process.js';
import { assertRabbitMQReachable, rabbitmqUrl } from './rabbitmq.js';
import { type RedisService, startRedis } from './redis-server-process.js';

declare module 'vitest' {
  /** Values provided by {@link setupServices}; only those of the requested services are set. */
  export interface ProvidedContext {
    /** `redis://127.0.0.1:PORT` of the private redis-server (service `redis`). */
    redisUrl: string;
    redisHost: string;
    redisPort: number;
    /** Private beanstalkd (service `beanstalkd`). */
    beanstalkdHost: string;
    beanstalkdPort: number;
    /** Broker URL (service `rabbitmq`): `RABBITMQ_URL` or `amqp://guest:guest@127.0.0.1:5672`. */
    rabbitmqUrl: string;
    /** False only when the broker was unreachable and `DISPATCHER_SKIP_RABBITMQ=1` allowed the run anyway. */
    rabbitmqReachable: boolean;
  }
}

/** A service that {@link setupServices} can start or check. */
export type ServiceName = 'redis' | 'beanstalkd' | 'rabbitmq';

/** The part of vitest's `TestProject` that the global setup uses (a fake works in tests). */
export interface ServicesProject {
  provide<K extends keyof ProvidedContext & string>(key: K, value: ProvidedContext[K]): void;
}

/** Options for {@link setupServices}. */
export interface SetupServicesOptions {
  /** Deadline of the RabbitMQ reachability check (default 5 s). */
  rabbitmqTimeoutMs?: number;
}

/** What a vitest globalSetup module's default export must be: setup returning its teardown. */
export type GlobalSetup = (project: ServicesProject) => Promise<() => Promise<void>>;

/**
 * Builds a vitest globalSetup function that starts private redis-server / beanstalkd processes and checks
 * RabbitMQ once per test run, provides their addresses to the tests (`inject('redisUrl')`, …) and stops
 * the processes in its teardown.
 *
 * An unreachable RabbitMQ fails the run (a silently skipped integration suite looks green but proves
 * nothing) unless `DISPATCHER_SKIP_RABBITMQ=1` is set, in which case `rabbitmqReachable` is provided as
 * false so suites can `describe.skipIf(!inject('rabbitmqReachable'))`.
 *
 * @example
 * ```ts
 * // test/global-setup.ts
 * export default setupServices(['redis', 'beanstalkd']);
 * ```
 */
export function setupServices(
  services: readonly ServiceName[],
  options: SetupServicesOptions = {},
): GlobalSetup {
  const wanted = new Set(services);
  return async (project) => {
    const started: Array<{ stop(): Promise<void> }> = [];
    const stopAll = async (): Promise<void> => {
      // Stop every service even when one of them fails to stop, then report the first failure.
      const results = await Promise.allSettled(started.splice(0).map((service) => service.stop()));
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    };

    // Start everything concurrently; whatever did start must be stopped if anything else fails.
    const [redis, beanstalkd, rabbitmq] = await Promise.allSettled([
      wanted.has('redis') ? startRedis().then(keep) : undefined,
      wanted.has('beanstalkd') ? startBeanstalkd().then(keep) : undefined,
      wanted.has('rabbitmq') ? checkRabbitMQ(options.rabbitmqTimeoutMs) : undefined,
    ]);
    const failure = [redis, beanstalkd, rabbitmq].find((result) => result.status === 'rejected');
    if (failure) {
      await stopAll().catch(() => undefined);
      throw failure.reason;
    }

    const redisService = (redis as PromiseFulfilledResult<RedisService | undefined>).value;
    if (redisService) {
      project.provide('redisUrl', redisService.url);
      project.provide('redisHost', redisService.host);
      project.provide('redisPort', redisService.port);
    }
    const beanstalkdService = (beanstalkd as PromiseFulfilledResult<BeanstalkdService | undefined>).value;
    if (beanstalkdService) {
      project.provide('beanstalkdHost', beanstalkdService.host);
      project.provide('beanstalkdPort', beanstalkdService.port);
    }
    const rabbitmqReachable = (rabbitmq as PromiseFulfilledResult<boolean | undefined>).value;
    if (rabbitmqReachable !== undefined) {
      project.provide('rabbitmqUrl', rabbitmqUrl());
      project.provide('rabbitmqReachable', rabbitmqReachable);
    }
    return stopAll;

    function keep<T extends { stop(): Promise<void> }>(service: T): T {
      started.push(service);
      return service;
    }
  };
}

async function checkRabbitMQ(timeoutMs: number | undefined): Promise<boolean> {
  try {
    await assertRabbitMQReachable(rabbitmqUrl(), timeoutMs === undefined ? {} : { timeoutMs });
    return true;
  } catch (error) {
    if (process.env.DISPATCHER_SKIP_RABBITMQ !== '1') throw error;
    console.warn(`[dispatcher] ${(error as Error).message} Continuing because DISPATCHER_SKIP_RABBITMQ=1.`);
    return false;
  }
}
