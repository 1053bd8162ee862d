/**
 * TLS certificates made at test time with the openssl CLI (never committed, valid for a day or two), in a
 * private temporary directory that is removed before the promise settles.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A PEM certificate and its unencrypted PEM private key. */
export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
}

/** Options of {@link selfSignedCertificate}. */
export interface SelfSignedCertificateOptions {
  /** Subject common name. @defaultValue 'localhost' */
  readonly commonName?: string;
  /** subjectAltName value. @defaultValue 'DNS:localhost,IP:127.0.0.1' */
  readonly subjectAltName?: string;
  /** Validity in days. @defaultValue 1 */
  readonly days?: number;
}

async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'dsp-tls-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A self-signed RSA-2048 certificate (by default for `localhost` / 127.0.0.1). */
export function selfSignedCertificate(options: SelfSignedCertificateOptions = {}): Promise<TestCertificate> {
  return inTempDir(async (dir) => {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      String(options.days ?? 1),
      '-subj',
      `/CN=${options.commonName ?? 'localhost'}`,
      '-addext',
      `subjectAltName=${options.subjectAltName ?? 'DNS:localhost,IP:127.0.0.1'}`,
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    return {
      cert: await readFile(join(dir, 'cert.pem'), 'utf8'),
      key: await readFile(join(dir, 'key.pem'), 'utf8'),
    };
  });
}

/**
 * A small PKI for mutual-TLS tests: a CA, a server certificate it signs (subjectAltName IP:127.0.0.1,
 * serverAuth), a client certificate it signs (clientAuth), and a `stranger` client certificate signed by
 * another CA. All PEM buffers.
 */
export interface TestPki {
  readonly ca: Buffer;
  readonly serverCert: Buffer;
  readonly serverKey: Buffer;
  readonly clientCert: Buffer;
  readonly clientKey: Buffer;
  readonly strangerCert: Buffer;
  readonly strangerKey: Buffer;
}

/** Makes a {@link TestPki} (valid for two days). */
export function makeTestPki(): Promise<TestPki> {
  return inTempDir(async (dir) => {
    const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
    const days = ['-days', '2'];
    // A new RSA key `<name>.key` and, with `more`, a self-signed certificate or a signing request.
    const newKey = (name: string, ...more: string[]) =>
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, ...more);
    const newCa = (name: string, cn: string) =>
      newKey(name, '-x509', '-out', `${name}.pem`, ...days, '-subj', `/CN=${cn}`);
    const signed = async (name: string, ca: string, ext: string) => {
      await newKey(name, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
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
    await newCa('ca', 'dsp-test-ca');
    await newCa('other-ca', 'dsp-other-ca');
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
  });
}
