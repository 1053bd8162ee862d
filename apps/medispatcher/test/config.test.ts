import { describe, expect, it } from 'vitest';
import { ConfigError, fromToml, parseArgs, splitListenAddr } from '../src/config.js';
import { subscriptionDefaults } from '../src/start-gateway.js';

describe('medispatcher config', () => {
  it("keeps the original's defaults for absent keys", () => {
    const c = fromToml({});
    expect(c.file.NameOfMainQueue).toBe('main-incoming-queue');
    expect(c.file.QueueServerAddr).toEqual(['127.0.0.1:11300']);
    expect(c.file.PrefixOfChannelQueue).toBe('sub-queue/');
    expect(c.file.MsgQueueFaultToleranceListNamePrefix).toBe('mec_list_of_msg_for_restore_to_queue_server:');
    expect(c.subscriptionSource).toBe('redis');
    const d = subscriptionDefaults(c);
    expect(d).toMatchObject({
      sendersPerChannel: 1,
      maxRetries: 10,
      retryCoefficientSec: 10,
      timeoutMs: 5_000,
      maxTimeoutMs: 30_000,
    });
  });

  it('reads a deployment file: server list, MySQL mode, unknown sections accepted', () => {
    const c = fromToml({
      QueueServerAddr: '10.0.0.1:11300, 10.0.0.2:11301',
      NameOfMainQueue: 'event_center_messages',
      SendersPerChannel: 5,
      Database: {
        Host: 'db',
        Port: 3306,
        User: 'u',
        Password: 'p',
        DbName: 'jm_event',
        Options: 'readTimeout=20s',
      },
      AlerterSms: { Gateway: 'http://sms' },
    });
    expect(c.file.QueueServerAddr).toEqual(['10.0.0.1:11300', '10.0.0.2:11301']);
    expect(c.subscriptionSource).toBe('mysql');
    expect(subscriptionDefaults(c).sendersPerChannel).toBe(5);
  });

  it('names the bad key', () => {
    expect(() => fromToml({ SendersPerChannel: 'many' })).toThrow(/SendersPerChannel/);
    expect(() => fromToml({ SubscriptionSource: 'mysql' })).toThrow(/Database: required/);
    expect(() => parseArgs(['--bogus'])).toThrow(ConfigError);
    expect(() => parseArgs([])).toThrow(/no config file/);
    expect(parseArgs(['-h'])).toEqual({ kind: 'help' });
  });

  it('control plane keys: loopback defaults, "" turns off, no exposed REST API without a token', () => {
    const c = fromToml({});
    expect([c.file.ListenAddr, c.file.ControlListenAddr]).toEqual(['127.0.0.1:5601', '127.0.0.1:5602']);
    expect(c.file.ControlToken).toBeUndefined();
    expect(fromToml({ ListenAddr: '', ControlListenAddr: '' }).file.ListenAddr).toBe('');
    // The original's sample line keeps working.
    expect(splitListenAddr(fromToml({ ListenAddr: '0.0.0.0:5601' }).file.ListenAddr)).toEqual({
      host: '0.0.0.0',
      port: 5601,
    });
    expect(splitListenAddr(':5601')).toEqual({ host: '0.0.0.0', port: 5601 });
    expect(splitListenAddr('[::1]:5602')).toEqual({ host: '::1', port: 5602 });
    expect(() => fromToml({ ListenAddr: 'nowhere' })).toThrow(/ListenAddr: must be host:port/);
    expect(() => fromToml({ ListenAddr: '127.0.0.1:70000' })).toThrow(/ListenAddr: must be host:port/);
    expect(() => fromToml({ ControlListenAddr: '0.0.0.0:5602' })).toThrow(
      /ControlListenAddr: .*ControlToken/,
    );
    expect(() => fromToml({ ControlToken: 'short' })).toThrow(/ControlToken: must be at least 16/);
    const exposed = fromToml({ ControlListenAddr: '0.0.0.0:5602', ControlToken: 'a-long-enough-token' });
    expect(exposed.file.ControlToken).toBe('a-long-enough-token');
    expect(fromToml({ ControlListenAddr: 'localhost:5602' }).file.ControlListenAddr).toBe('localhost:5602');
  });
});
