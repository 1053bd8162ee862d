/**
 * The amqps listener with certificates made at test time (openssl CLI): a CA, a server certificate for
 * 127.0.0.1 and a client certificate signed by the CA, plus a client certificate from another CA.
 */
import { makeTestPki, type TestPki } from '@dispatcher/tooling';
import amqp from 'amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../src/index.js';
import { startBroker } from './helpers/targets.js';

let pki: TestPki;

async function connectTls(port: number, socketOptions: Record<string, unknown>): Promise<string> {
  try {
    const conn = await amqp.connect(`amqps://guest:guest@127.0.0.1:${port}`, socketOptions);
    const ch = await conn.createChannel();
    const q = await ch.assertQueue('', { exclusive: true });
    await conn.close();
    return q.queue.startsWith('amq.gen-') ? 'ok' : q.queue;
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

beforeAll(async () => {
  pki = await makeTestPki();
});

describe('amqps listener', () => {
  it('serves AMQP over TLS beside the plain listener; a client that does not trust the CA is refused', async () => {
    const { server } = await startBroker({ tls: { cert: pki.serverCert, key: pki.serverKey, port: 0 } });
    try {
      expect(server.tlsPort).toBeGreaterThan(0);
      expect(server.tlsPort).not.toBe(server.port);
      expect(await connectTls(server.tlsPort, { ca: [pki.ca] })).toBe('ok');
      expect(await connectTls(server.tlsPort, {})).toMatch(
        /refused: .*(self[- ]signed|unable to|certificate)/i,
      );
      const plain = await amqp.connect(`amqp://guest:guest@127.0.0.1:${server.port}`);
      await plain.close();
    } finally {
      await server.close();
    }
  });

  it('verifyPeer + failIfNoPeerCert: a client certificate from the CA is required', async () => {
    const { server } = await startBroker({
      tls: {
        cert: pki.serverCert,
        key: pki.serverKey,
        ca: pki.ca,
        port: 0,
        verifyPeer: true,
        failIfNoPeerCert: true,
      },
    });
    try {
      expect(
        await connectTls(server.tlsPort, { ca: [pki.ca], cert: pki.clientCert, key: pki.clientKey }),
      ).toBe('ok');
      expect(await connectTls(server.tlsPort, { ca: [pki.ca] })).toMatch(/^refused/);
      expect(
        await connectTls(server.tlsPort, { ca: [pki.ca], cert: pki.strangerCert, key: pki.strangerKey }),
      ).toMatch(/^refused/);
      await expect.poll(() => server.connectionCount, { timeout: 10_000 }).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('verifyPeer without failIfNoPeerCert: no certificate passes, a bad one does not', async () => {
    const { server } = await startBroker({
      tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, port: 0, verifyPeer: true },
    });
    try {
      expect(await connectTls(server.tlsPort, { ca: [pki.ca] })).toBe('ok');
      expect(
        await connectTls(server.tlsPort, { ca: [pki.ca], cert: pki.strangerCert, key: pki.strangerKey }),
      ).toMatch(/^refused/);
    } finally {
      await server.close();
    }
  });

  it('a key that is not PEM fails start() with DSP_BROKER_TLS_CONFIG', async () => {
    const err = await startBroker({ tls: { cert: pki.serverCert, key: 'not a key', port: 0 } }).catch(
      (e: unknown) => e,
    );
    expect(BrokerError.isInstance(err) && err.code).toBe('DSP_BROKER_TLS_CONFIG');
  });
});
