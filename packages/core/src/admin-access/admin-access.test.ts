import { describe, expect, it } from 'vitest';
import {
  ADMIN_DENIAL_STATUS,
  ADMIN_SECURITY_HEADERS,
  type AdminAccessRequest,
  adminAccessCheck,
  adminAccessRequest,
  bearerTokenMatches,
  isStateChangingMethod,
} from './admin-access.js';

const local: AdminAccessRequest = { method: 'GET', host: 'localhost:8080', remoteAddress: '127.0.0.1' };

describe('adminAccessCheck, bearer mode without a token', () => {
  const check = adminAccessCheck({ hosts: ['admin.example.com'] });

  it('lets a loopback client that names the listener through', () => {
    expect(check(local)).toBeUndefined();
    expect(check({ ...local, host: 'admin.example.com', remoteAddress: '::ffff:127.0.0.1' })).toBeUndefined();
  });

  it('refuses remote clients before looking at Host', () => {
    expect(check({ ...local, remoteAddress: '10.1.2.3', host: 'attacker.example' })).toBe('remote-client');
    expect(check({ ...local, remoteAddress: undefined })).toBe('remote-client');
  });

  it('refuses a Host that does not name the listener (DNS rebinding)', () => {
    expect(check({ ...local, host: 'attacker.example:8080' })).toBe('misdirected');
    expect(check({ ...local, host: undefined })).toBe('misdirected');
  });

  it('refuses writes from another origin, not reads, and not writes without Origin', () => {
    expect(check({ ...local, method: 'POST', origin: 'https://attacker.example' })).toBe('cross-origin');
    expect(check({ ...local, method: 'DELETE', origin: 'null' })).toBe('cross-origin');
    expect(check({ ...local, method: 'GET', origin: 'https://attacker.example' })).toBeUndefined();
    expect(check({ ...local, method: 'PUT' })).toBeUndefined();
    expect(check({ ...local, method: 'PATCH', origin: 'http://localhost:8080' })).toBeUndefined();
    expect(check({ ...local, method: 'POST', origin: 'https://admin.example.com' })).toBeUndefined();
  });
});

describe('adminAccessCheck, bearer mode with a token', () => {
  const check = adminAccessCheck({ token: 's3cret' });

  it('needs the exact token, from any client and under any Host', () => {
    const remote = { method: 'GET', host: 'proxy.example.com', remoteAddress: '10.1.2.3' };
    expect(check({ ...remote, authorization: 'Bearer s3cret' })).toBeUndefined();
    expect(check({ ...remote, authorization: 'Bearer s3cre' })).toBe('unauthorized');
    expect(check({ ...remote, authorization: 'Bearer s3cretx' })).toBe('unauthorized');
    expect(check({ ...remote, authorization: 'Basic s3cret' })).toBe('unauthorized');
    expect(check(remote)).toBe('unauthorized');
  });

  it('still refuses writes from another origin', () => {
    const request = { ...local, method: 'POST', authorization: 'Bearer s3cret' };
    expect(check({ ...request, origin: 'https://attacker.example' })).toBe('cross-origin');
    expect(check({ ...request, origin: 'http://127.0.0.1:9' })).toBeUndefined();
  });

  it('treats an empty token as none', () => {
    expect(adminAccessCheck({ token: '' })({ ...local, remoteAddress: '10.0.0.1' })).toBe('remote-client');
  });
});

describe('adminAccessCheck, host-only mode', () => {
  const check = adminAccessCheck({
    mode: 'host-only',
    token: 'ignored',
    hosts: ['broker.example.com:15672'],
  });

  it('leaves clients to the caller and checks Host and Origin', () => {
    expect(check({ ...local, remoteAddress: '10.1.2.3' })).toBeUndefined();
    expect(check({ ...local, host: 'broker.example.com:15672' })).toBeUndefined();
    expect(check({ ...local, host: 'broker.example.com:80' })).toBe('misdirected');
    expect(check({ ...local, method: 'PUT', origin: 'http://broker.example.com:15672' })).toBeUndefined();
    expect(check({ ...local, method: 'PUT', origin: 'http://evil.example' })).toBe('cross-origin');
  });
});

describe('pieces', () => {
  it('maps each denial to its status', () => {
    expect(ADMIN_DENIAL_STATUS).toEqual({
      unauthorized: 401,
      'remote-client': 403,
      misdirected: 421,
      'cross-origin': 403,
    });
  });

  it('knows the state-changing methods', () => {
    expect(['POST', 'PUT', 'PATCH', 'DELETE', 'GET', 'HEAD', 'OPTIONS'].map(isStateChangingMethod)).toEqual([
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('compares bearer tokens by value, multi-byte ones included', () => {
    const expected = Buffer.from('clé', 'utf8');
    expect(bearerTokenMatches(expected, 'Bearer clé')).toBe(true);
    expect(bearerTokenMatches(expected, 'Bearer cle')).toBe(false);
    expect(bearerTokenMatches(expected, 'bearer clé')).toBe(false);
    expect(bearerTokenMatches(expected, undefined)).toBe(false);
  });

  it('sends strict security headers', () => {
    expect(ADMIN_SECURITY_HEADERS).toEqual({
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    });
  });
});

describe('adminAccessRequest', () => {
  it('reads method, Host, Origin, Authorization and the remote address of a Node request', () => {
    expect(
      adminAccessRequest({
        method: 'POST',
        headers: { host: 'localhost:1', origin: 'http://x', authorization: 'Bearer t' },
        socket: { remoteAddress: '::1' },
      }),
    ).toEqual({
      method: 'POST',
      host: 'localhost:1',
      origin: 'http://x',
      authorization: 'Bearer t',
      remoteAddress: '::1',
    });
    expect(adminAccessRequest({ headers: {}, socket: {} })).toEqual({
      method: 'GET',
      host: undefined,
      origin: undefined,
      authorization: undefined,
      remoteAddress: undefined,
    });
  });
});
