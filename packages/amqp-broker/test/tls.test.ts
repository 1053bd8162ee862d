/**
 * The amqps listener with certificates made at test time (openssl CLI): a CA, a server certificate for
 * 127.0.0.1 and a client certificate signed by the CA, plus a client certificate from another CA.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../src/index.js';
import { startBroker } from './helpers/targets.js';

const run = promisify(execFile);

interface Pki {
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  strangerCert: Buffer;
  strangerKey: Buffer;
}

let dir: string;
let pki: Pki;

async function openssl(...args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

/** A CA and a certificate it signs (subjectAltName IP:127.0.0.1 for the server). */
async function makePki(): Promise<Pki> {
  const days = ['-days', '2'];
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    ...days,
    '-subj',
    '/CN=dsp-test-ca',
  );
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'other-ca.key',
    '-out',
    'other-ca.pem',
    ...days,
    '-subj',
    '/CN=dsp-other-ca',
  );
  const signed = async (name: string, ca: string, ext: string) => {
    await openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    );
    await openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      ...days,
      '-extfile',
      ext,
    );
  };
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  await signed('server', 'ca', 'server.ext');
  await signed('client', 'ca', 'client.ext');
  await signed('stranger', 'other-ca', 'client.ext');
  const read = (f: string) => readFile(join(dir, f));
  return {
    ca: await read('ca.pem'),
    serverCert: await read('server.pem'),
    serverKey: await read('server.key'),
    clientCert: await read('client.pem'),
    clientKey: await read('client.key'),
    strangerCert: await read('stranger.pem'),
    strangerKey: await read('stranger.key'),
  };
}

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
  dir = await mkdtemp(join(tmpdir(), 'dsp-tls-'));
  pki = await makePki();
});

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
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
