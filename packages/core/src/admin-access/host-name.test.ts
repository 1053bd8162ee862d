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
    for (const bad of ['', 'a b', 'http://x', 'x:99999', 'x:', '-x', 'x_y', 'user@x']) {
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

describe('adminHostMatcher', () => {
  it('accepts loopback names on any port and nothing else by default', () => {
    const matches = adminHostMatcher([]);
    expect(['localhost:1', '127.0.0.1:8080', '[::1]', 'LOCALHOST'].map(matches)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect([undefined, '', 'attacker.example', 'attacker.example:8080'].map(matches)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });

  it('accepts configured names: a bare name on any port, name:port on that port only', () => {
    const matches = adminHostMatcher(['dispatcher.internal', 'Admin.Example.com:8443', 'not a host']);
    expect(matches('dispatcher.internal:9000')).toBe(true);
    expect(matches('admin.example.com:8443')).toBe(true);
    expect(matches('admin.example.com:8444')).toBe(false);
    expect(matches('admin.example.com')).toBe(false);
    expect(matches('not a host')).toBe(false);
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
