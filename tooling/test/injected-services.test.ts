import { describe, expect, inject, it } from 'vitest';
import { exchange } from './helpers.js';

// These values come from test/global-setup.ts, exactly as in the packages that use the tooling.
describe('services provided by the global setup', () => {
  it('injects a reachable redis-server', async () => {
    expect(inject('redisUrl')).toBe(`redis://127.0.0.1:${inject('redisPort')}`);
    expect(await exchange(inject('redisPort'), 'PING\r\n', (text) => text.endsWith('\r\n'))).toBe(
      '+PONG\r\n',
    );
  });

  it('injects a reachable beanstalkd', async () => {
    expect(inject('beanstalkdHost')).toBe('127.0.0.1');
    const reply = await exchange(
      inject('beanstalkdPort'),
      'stats\r\n',
      (text) => text.endsWith('\r\n\r\n') || /\n\r\n$/.test(text),
    );
    expect(reply).toMatch(/^OK \d+\r\n---\n/);
  });

  it('injects the RabbitMQ URL, checked reachable', () => {
    expect(inject('rabbitmqUrl')).toMatch(/^amqps?:\/\//);
    expect(inject('rabbitmqReachable')).toBe(true);
  });
});
