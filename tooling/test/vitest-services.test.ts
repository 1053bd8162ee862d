import { afterEach, describe, expect, it, vi } from 'vitest';
import { getFreePort } from '../src/free-port.js';
import { trackedProcesses } from '../src/process-registry.js';
import { rabbitmqUrl } from '../src/rabbitmq.js';
import { setupServices } from '../src/vitest-services.js';
import { exchange, isPortFree, pathExists } from './helpers.js';

/** Stands in for vitest's TestProject: records what the global setup provides. */
function fakeProject(): { provided: Map<string, unknown>; provide(key: string, value: unknown): void } {
  const provided = new Map<string, unknown>();
  return {
    provided,
    provide(key, value) {
      if (provided.has(key)) throw new Error(`${key} provided twice`);
      provided.set(key, value);
    },
  };
}

describe('setupServices', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('starts redis and beanstalkd, checks RabbitMQ, provides their addresses, and the teardown stops them', async () => {
    const before = new Set(trackedProcesses().map((entry) => entry.pid));
    const project = fakeProject();

    const teardown = await setupServices(['redis', 'beanstalkd', 'rabbitmq'])(project);

    expect([...project.provided.keys()].sort()).toEqual([
      'beanstalkdHost',
      'beanstalkdPort',
      'rabbitmqReachable',
      'rabbitmqUrl',
      'redisHost',
      'redisPort',
      'redisUrl',
    ]);
    const redisPort = project.provided.get('redisPort') as number;
    const beanstalkdPort = project.provided.get('beanstalkdPort') as number;
    expect(project.provided.get('redisUrl')).toBe(`redis://127.0.0.1:${redisPort}`);
    expect(project.provided.get('redisHost')).toBe('127.0.0.1');
    expect(project.provided.get('beanstalkdHost')).toBe('127.0.0.1');
    expect(project.provided.get('rabbitmqUrl')).toBe(rabbitmqUrl());
    expect(project.provided.get('rabbitmqReachable')).toBe(true);

    expect(await exchange(redisPort, 'PING\r\n', (text) => text.endsWith('\r\n'))).toBe('+PONG\r\n');
    expect(
      await exchange(beanstalkdPort, 'list-tubes\r\n', (text) => text.endsWith('- default\n\r\n')),
    ).toMatch(/^OK \d+\r\n/);

    const started = trackedProcesses().filter((entry) => !before.has(entry.pid));
    expect(started.map((entry) => entry.name).sort()).toEqual(['beanstalkd', 'redis-server']);

    await teardown();

    for (const entry of started) {
      expect(() => process.kill(entry.pid, 0)).toThrow();
      expect(await pathExists(entry.removeDir as string)).toBe(false);
    }
    expect(await isPortFree(redisPort)).toBe(true);
    expect(await isPortFree(beanstalkdPort)).toBe(true);
    expect(trackedProcesses().filter((entry) => !before.has(entry.pid))).toEqual([]);
  });

  it('provides only what was asked for', async () => {
    const project = fakeProject();
    const teardown = await setupServices(['beanstalkd'])(project);
    try {
      expect([...project.provided.keys()].sort()).toEqual(['beanstalkdHost', 'beanstalkdPort']);
    } finally {
      await teardown();
    }
  });

  it('fails the run when RabbitMQ is unreachable, stopping the services it already started', async () => {
    vi.stubEnv('RABBITMQ_URL', `amqp://guest:guest@127.0.0.1:${await getFreePort()}`);
    vi.stubEnv('DISPATCHER_SKIP_RABBITMQ', undefined);
    const before = trackedProcesses().length;
    const project = fakeProject();

    await expect(setupServices(['redis', 'beanstalkd', 'rabbitmq'])(project)).rejects.toThrow(
      /RabbitMQ is not reachable .*RABBITMQ_URL/s,
    );
    expect(project.provided.size).toBe(0);
    expect(trackedProcesses()).toHaveLength(before);
  });

  it('continues without RabbitMQ only when DISPATCHER_SKIP_RABBITMQ=1', async () => {
    const url = `amqp://guest:guest@127.0.0.1:${await getFreePort()}`;
    vi.stubEnv('RABBITMQ_URL', url);
    vi.stubEnv('DISPATCHER_SKIP_RABBITMQ', '1');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const project = fakeProject();

    const teardown = await setupServices(['rabbitmq'])(project);

    expect(project.provided.get('rabbitmqUrl')).toBe(url);
    expect(project.provided.get('rabbitmqReachable')).toBe(false);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('DISPATCHER_SKIP_RABBITMQ=1'));
    await teardown();
  });
});
