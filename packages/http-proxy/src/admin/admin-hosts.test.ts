import { adminHostMatcher, parseHostName } from '@dispatcher/core';
import { describe, expect, it } from 'vitest';

describe('adminHostMatcher', () => {
  it('takes loopback names and addresses, with or without a port, and nothing else by default', () => {
    const matches = adminHostMatcher([]);
    for (const host of [
      'localhost',
      'LOCALHOST:8080',
      '127.0.0.1',
      '127.0.0.1:80',
      '127.8.9.10:1',
      '[::1]',
      '[::1]:9',
    ])
      expect(matches(host), host).toBe(true);
    for (const host of [
      undefined,
      '',
      'attacker.example',
      'attacker.example:8080',
      'localhost.attacker.example',
      '127.0.0.1.attacker.example',
      'user@127.0.0.1',
      '10.0.0.1',
      '[::2]',
      '0.0.0.0',
      'localhost:99999',
      'localhost, attacker.example',
    ])
      expect(matches(host), String(host)).toBe(false);
  });

  it('takes configured names on any port, or on the port given', () => {
    const matches = adminHostMatcher(['dispatcher.internal', 'Admin.Example.com:8443', '[fd00::1]']);
    expect(matches('dispatcher.internal')).toBe(true);
    expect(matches('dispatcher.internal:8080')).toBe(true);
    expect(matches('admin.example.com:8443')).toBe(true);
    expect(matches('admin.example.com')).toBe(false);
    expect(matches('admin.example.com:443')).toBe(false);
    expect(matches('[fd00::1]:80')).toBe(true);
    expect(matches('other.internal')).toBe(false);
    expect(matches('localhost')).toBe(true);
  });

  it('parses only what a Host header may hold', () => {
    expect(parseHostName('Example.COM:81')).toEqual({ name: 'example.com', port: 81 });
    expect(parseHostName('[::1]')).toEqual({ name: '[::1]' });
    for (const bad of ['', 'a b', 'http://x', 'x:', 'x:-1', '-x', 'x/y', '::1'])
      expect(parseHostName(bad), bad).toBeUndefined();
  });
});
