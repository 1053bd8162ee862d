/**
 * Connection-level behaviour over raw sockets against our broker and, when reachable, RabbitMQ: the
 * capabilities advertised in connection.start, and connection.update-secret on an open connection.
 */
import { expect } from 'vitest';
import { MethodId } from '../src/codec/generated/amqp-spec.js';
import { differentialSuite } from './helpers/differential-suite.js';
import type { RawClient } from './helpers/raw-client.js';
import { rawScenarios } from './helpers/raw-scenarios.js';

type Scenario = (c: RawClient) => Promise<unknown>;

const scenarios: Record<string, Scenario> = {
  'connection.start advertises the same nine capabilities': async (c) => {
    const caps = c.start?.serverProperties.get('capabilities');
    if (caps?.type !== 'table') return caps?.type;
    // Name, type and value of each, in the order sent.
    return [...caps.value].map(([name, v]) => [name, v.type, v.type === 'bool' ? v.value : undefined]);
  },

  'connection.update-secret is answered with update-secret-ok; the connection stays usable': async (c) => {
    c.send(0, { id: MethodId.ConnectionUpdateSecret, newSecret: Buffer.from('guest'), reason: 'rotation' });
    await c.expectMethod(MethodId.ConnectionUpdateSecretOk, 0);
    await c.openChannel(1);
    c.send(1, { id: MethodId.BasicQos, prefetchSize: 0, prefetchCount: 5, global: false });
    await c.expectMethod(MethodId.BasicQosOk, 1);
    return { closed: c.closeMethod()?.id ?? 'open' };
  },
};

differentialSuite('connection: dispatcher vs RabbitMQ', rawScenarios(scenarios), (server) => {
  expect(server.connectionCount).toBe(0);
});
