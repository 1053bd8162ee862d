import { selfSignedCertificate } from '@dispatcher/tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerTargets } from './brokers.js';
import { TestBed } from './helpers/fixtures.js';
import { TlsProxy } from './helpers/tls-proxy.js';

describe.each(brokerTargets())('TLS against $name', ({ url }) => {
  let proxy: TlsProxy;
  let cert: string;
  beforeAll(async () => {
    const credentials = await selfSignedCertificate();
    cert = credentials.cert;
    proxy = await TlsProxy.start(url, credentials);
  });
  afterAll(async () => {
    await proxy.close();
  });

  it('verifies certificates by default, trusts a given CA, and skips verification only when asked', async () => {
    const bed = new TestBed(url);
    try {
      const verifying = bed.server({ url: proxy.urlFor(url), tls: {}, reconnect: { retries: 0 } });
      const refused = (await verifying.start().catch((err: unknown) => err)) as Error;
      expect(refused).toMatchObject({ code: 'DSP_TASKS_CONNECT_FAILED' });
      // Refused by certificate verification, not by anything else.
      expect((refused.cause as { code?: string }).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');

      const trusting = bed.server({ url: proxy.urlFor(url), tls: { ca: cert } });
      await trusting.start();
      expect(trusting.connected).toBe(true);

      const insecure = bed.server({ url: proxy.urlFor(url), tls: { insecure: true } });
      await insecure.start();
      expect(insecure.connected).toBe(true);
    } finally {
      await bed.cleanup();
    }
  });
});
