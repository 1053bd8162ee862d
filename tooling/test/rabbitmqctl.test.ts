import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rabbitmqCloseConnectionsNamed, rabbitmqctl, withRabbitmqVhost } from '../src/rabbitmqctl.js';

// The machine's RabbitMQ (the project's tests always have it); everything here lives in a private vhost.
describe('rabbitmqctl helpers', () => {
  it('runs a vhost with limits for the callback and removes it afterwards, even when the callback throws', async () => {
    const vhost = `dsp-tooling-${randomBytes(4).toString('hex')}`;
    const seen = await withRabbitmqVhost(vhost, { 'max-queues': 3 }, async () => ({
      vhosts: await rabbitmqctl('list_vhosts', '-q'),
      limits: await rabbitmqctl('list_vhost_limits', '-p', vhost, '-q'),
    }));
    expect(seen.vhosts.split('\n')).toContain(vhost);
    expect(seen.limits).toContain('"max-queues":3');
    expect((await rabbitmqctl('list_vhosts', '-q')).split('\n')).not.toContain(vhost);

    await expect(withRabbitmqVhost(vhost, {}, () => Promise.reject(new Error('inside')))).rejects.toThrow(
      'inside',
    );
    expect((await rabbitmqctl('list_vhosts', '-q')).split('\n')).not.toContain(vhost);
  });

  it('closes no connection when none carries the name', async () => {
    expect(await rabbitmqCloseConnectionsNamed(`dsp-nobody-${randomBytes(4).toString('hex')}`)).toBe(0);
  });
});
