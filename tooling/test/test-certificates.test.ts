import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { makeTestPki, selfSignedCertificate } from '../src/test-certificates.js';

describe('selfSignedCertificate', () => {
  it('makes a certificate for localhost and 127.0.0.1 whose key matches', async () => {
    const { cert, key } = await selfSignedCertificate();
    const x509 = new X509Certificate(cert);
    expect(x509.subject).toBe('CN=localhost');
    expect(x509.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(x509.checkPrivateKey((await import('node:crypto')).createPrivateKey(key))).toBe(true);
    expect(() => createSecureContext({ cert, key })).not.toThrow();
  });

  it('takes a name, alt names and a validity', async () => {
    const { cert } = await selfSignedCertificate({
      commonName: 'x-test',
      subjectAltName: 'IP:127.0.0.1',
      days: 2,
    });
    const x509 = new X509Certificate(cert);
    expect(x509.subject).toBe('CN=x-test');
    expect(x509.subjectAltName).toBe('IP Address:127.0.0.1');
    const days = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(2);
  });
});

describe('makeTestPki', () => {
  it('signs the server and client certificates with the CA, and the stranger with another one', async () => {
    const pki = await makeTestPki();
    const ca = new X509Certificate(pki.ca);
    expect(new X509Certificate(pki.serverCert).verify(ca.publicKey)).toBe(true);
    expect(new X509Certificate(pki.clientCert).verify(ca.publicKey)).toBe(true);
    expect(new X509Certificate(pki.strangerCert).verify(ca.publicKey)).toBe(false);
    expect(new X509Certificate(pki.serverCert).subjectAltName).toBe('IP Address:127.0.0.1');
  });
});
