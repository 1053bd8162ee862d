import { describe, expect, it } from 'vitest';
import {
  adminHostMatcher,
  isLoopbackAddress,
  isLoopbackHostName,
  originHost,
  parseHostName,
} from './host-name.js';

describe('parseHostName', () => {
  it('reads name, name:port, [v6] and [v6]:port, lower-cased', () => {
    expect(parseHostName('Admin.Example.com:8443')).toEqual({ name: 'admin.example.com', port: 8443 });
    expect(parseHostName('localhost')).toEqual({ name: 'localhost' });
    expect(parseHostName('[::1]:15672')).toEqual({ name: '[::1]', port: 15672 });
    expect(parseHostName(' 127.0.0.1 ')).toEqual({ name: '127.0.0.1' });
  });

  it('refuses what is not a Host value', () => {
    for (const bad of ['', 'a b', 'http://x', 'x:99999', 'x:', 'x:-1', '-x', 'x/y', '::1', 'x_y', 'user@x']) {
      expect(parseHostName(bad), bad).toBeUndefined();
    }
  });
});

describe('loopback checks', () => {
  it('names', () => {
    expect(['localhost', '127.0.0.1', '127.1.2.3', '[::1]'].map(isLoopbackHostName)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['127.0.0.1.evil', 'localhost.evil', '[::2]', '10.0.0.1'].map(isLoopbackHostName)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });

  it('socket addresses, IPv4-mapped ones included', () => {
    expect(['127.0.0.1', '::1', '::ffff:127.0.0.1'].map(isLoopbackAddress)).toEqual([true, true, true]);
    expect(['10.0.0.1', '::ffff:10.0.0.1', '', '::2'].map(isLoopbackAddress)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});

// Moved from the proxy's admin-hosts.test.ts with the matcher.
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
});

describe('originHost', () => {
  it('answers host[:port] of http(s) origins only', () => {
    expect(originHost('http://localhost:3000')).toBe('localhost:3000');
    expect(originHost('https://Admin.Example.com')).toBe('admin.example.com');
    expect(originHost('null')).toBeUndefined();
    expect(originHost('file:///etc/passwd')).toBeUndefined();
    expect(originHost('chrome-extension://abc')).toBeUndefined();
  });
});
