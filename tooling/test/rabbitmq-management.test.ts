import { describe, expect, it } from 'vitest';
import { ensureRabbitMQManagement } from '../src/index.js';

describe('ensureRabbitMQManagement', () => {
  it('resolves once the management API and the Prometheus endpoint answer', async () => {
    const { managementUrl, prometheusUrl } = await ensureRabbitMQManagement();
    const overview = await fetch(`${managementUrl}/api/overview`, {
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
    });
    expect(overview.status).toBe(200);
    expect(((await overview.json()) as { rabbitmq_version: string }).rabbitmq_version).toMatch(/^3\./);
    const metrics = await (await fetch(`${prometheusUrl}/metrics`)).text();
    expect(metrics).toContain('rabbitmq_identity_info');
  }, 180_000);
});
