import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HELP, parseConfig } from '../src/config.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'dsp-dispatchd-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const config = (argv: string[] = [], env: Record<string, string> = {}) => {
  const parsed = parseConfig(env, argv);
  if (parsed.help) throw new Error('help');
  return parsed.config;
};
const writeJson = (value: unknown) => {
  const file = join(tmp(), 'dispatchd.json');
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
};

describe('dispatchd config', () => {
  it("has dispatchd's defaults and listens dual-stack", () => {
    expect(config()).toEqual({
      broker: { port: 5672, strictFieldTypes: false },
      host: '::',
      admin: { port: 8080, servedHosts: [], tls: undefined, prometheusPort: undefined },
      persistDir: '/data/dispatchd/',
      configFile: undefined,
      logLevel: 'info',
    });
  });

  it('accepts Go-style single-dash flags, -flag=value, and --flag', () => {
    for (const argv of [
      ['-amqp-port', '5673'],
      ['-amqp-port=5673'],
      ['--amqp-port', '5673'],
      ['--amqp-port=5673'],
    ]) {
      expect(config(argv).broker.port).toBe(5673);
    }
    const dir = tmp();
    const c = config(['-admin-port', '9090', '-persist-dir', dir, '-strict-mode', '-amqp-port=0']);
    expect(c).toMatchObject({
      admin: { port: 9090 },
      persistDir: dir,
      broker: { port: 0, strictFieldTypes: true },
    });
    expect(config(['-strict-mode=false']).broker.strictFieldTypes).toBe(false);
    expect(config(['--strict-mode=true']).broker.strictFieldTypes).toBe(true);
  });

  it('admin-port off disables the management listener; admin settings come from the file', () => {
    expect(config(['-admin-port', 'off']).admin).toBeUndefined();
    expect(config([], { DISPATCHD_ADMIN_PORT: 'OFF' }).admin).toBeUndefined();
    expect(() => config(['-admin-port', 'maybe'])).toThrow(
      '-admin-port: must be a whole number or off, got "maybe"',
    );
    const file = writeJson({ 'admin-port': 'off' });
    expect(config(['-config-file', file]).admin).toBeUndefined();
    const dir = tmp();
    writeFileSync(join(dir, 'c.pem'), 'CERT');
    writeFileSync(join(dir, 'k.pem'), 'KEY');
    const full = writeJson({
      'admin-hosts': ['broker.example.com'],
      'admin-tls': { 'cert-file': join(dir, 'c.pem'), 'key-file': join(dir, 'k.pem') },
      'prometheus-port': 15692,
    });
    expect(config(['-config-file', full]).admin).toEqual({
      port: 8080,
      servedHosts: ['broker.example.com'],
      tls: { cert: Buffer.from('CERT'), key: Buffer.from('KEY') },
      prometheusPort: 15692,
    });
    const missing = writeJson({
      'admin-tls': { 'cert-file': join(dir, 'nope.pem'), 'key-file': join(dir, 'k.pem') },
    });
    expect(() => config(['-config-file', missing])).toThrow('admin-tls.cert-file: cannot read');
  });

  it('recognises every help spelling', () => {
    for (const flag of ['-h', '-help', '--help']) expect(parseConfig({}, [flag])).toEqual({ help: true });
    expect(HELP).toContain('-amqp-port');
    expect(HELP).toContain('"users"');
  });

  it('reads DISPATCHD_* variables; flags win over them, they win over the file', () => {
    const file = writeJson({ 'amqp-port': 1111, 'admin-port': 2222, 'log-level': 'debug' });
    const env = { DISPATCHD_AMQP_PORT: '3333', DISPATCHD_CONFIG_FILE: file, DISPATCHD_STRICT_MODE: 'true' };
    expect(config([], env)).toMatchObject({
      broker: { port: 3333, strictFieldTypes: true },
      admin: { port: 2222 },
      logLevel: 'debug',
      configFile: file,
    });
    expect(config(['-amqp-port', '4444'], env).broker.port).toBe(4444);
  });

  it('maps the config file onto the broker options', () => {
    const file = writeJson({
      'strict-mode': true,
      users: { alice: { password: 's3cret' }, bob: { password: 'hunter2' } },
      vhosts: ['/', 'staging'],
      'heartbeat-seconds': 10,
      'frame-max-bytes': 65536,
      'channel-max': 100,
      'max-message-bytes': 1048576,
      product: 'Dispatcher',
    });
    expect(config(['-config-file', file]).broker).toEqual({
      port: 5672,
      strictFieldTypes: true,
      users: { alice: 's3cret', bob: 'hunter2' },
      vhosts: ['/', 'staging'],
      heartbeatSeconds: 10,
      frameMaxBytes: 65536,
      channelMax: 100,
      maxMessageBytes: 1048576,
      product: 'Dispatcher',
    });
  });

  it('maps the resource alarm and limit keys onto the broker options', () => {
    const file = writeJson({
      'memory-high-watermark': 0.25,
      'memory-check-interval-ms': 250,
      'disk-free-limit-bytes': 1_000_000_000,
      'disk-check-interval-ms': 5000,
      'max-connections': 100,
      'max-queues-per-vhost': 1000,
    });
    expect(config(['-config-file', file]).broker).toEqual({
      port: 5672,
      strictFieldTypes: false,
      memoryHighWatermark: { fraction: 0.25 },
      memoryCheckIntervalMs: 250,
      diskFreeLimitBytes: 1_000_000_000,
      diskCheckIntervalMs: 5000,
      maxConnections: 100,
      maxQueuesPerVhost: 1000,
    });
    const bytes = writeJson({ 'memory-high-watermark-bytes': 2_147_483_648 });
    expect(config(['-config-file', bytes]).broker.memoryHighWatermark).toEqual({ bytes: 2_147_483_648 });
  });

  it('validates the resource alarm and limit keys and names them', () => {
    const at = (value: unknown) => () => config(['-config-file', writeJson(value)]);
    expect(at({ 'memory-high-watermark': 1.5 })).toThrow(
      /: memory-high-watermark: must be a fraction of the memory, 0\.\.1 \(for bytes use memory-high-watermark-bytes\)$/,
    );
    expect(at({ 'memory-high-watermark': '40%' })).toThrow(/: memory-high-watermark: /);
    expect(at({ 'memory-high-watermark': 0.4, 'memory-high-watermark-bytes': 1e9 })).toThrow(
      /: memory-high-watermark-bytes: give memory-high-watermark \(a fraction\) or memory-high-watermark-bytes, not both$/,
    );
    expect(at({ 'disk-free-limit-bytes': -1 })).toThrow(/: disk-free-limit-bytes: /);
    expect(at({ 'max-connections': 1.5 })).toThrow(/: max-connections: must be a whole number$/);
    expect(at({ 'max-queues-per-vhost': -2 })).toThrow(/: max-queues-per-vhost: /);
    expect(at({ 'memory-check-interval-ms': 'often' })).toThrow(/: memory-check-interval-ms: /);
    // RabbitMQ's spellings are not ours: unknown keys still fail.
    expect(at({ vm_memory_high_watermark: 0.4 })).toThrow(/: vm_memory_high_watermark: unknown setting$/);
    expect(at({ disk_free_limit: 50_000_000 })).toThrow(/: disk_free_limit: unknown setting$/);
  });

  it('names the setting in every flag and environment error', () => {
    expect(() => config(['-amqp-port', 'abc'])).toThrow(/^-amqp-port: must be a whole number, got "abc"$/);
    expect(() => config(['-amqp-port=70000'])).toThrow(/^-amqp-port: must be a port number/);
    expect(() => config(['-admin-port', '-1'])).toThrow(/^-admin-port: must be a whole number/);
    expect(() => config(['-strict-mode=maybe'])).toThrow(/^-strict-mode: must be true or false/);
    expect(() => config(['-log-level', 'loud'])).toThrow(/^-log-level: /);
    expect(() => config(['-persist-dir='])).toThrow(/^-persist-dir: must not be empty/);
    expect(() => config(['-amqp-port'])).toThrow(/^-amqp-port: missing value$/);
    expect(() => config(['-debug-port', '6060'])).toThrow(/^-debug-port: unknown option/);
    expect(() => config(['serve'])).toThrow(/^unexpected argument "serve"/);
    expect(() => config(['-amqp-port', '5672', '-admin-port', '5672'])).toThrow(
      /^-admin-port: must differ from -amqp-port/,
    );
    expect(() => config([], { DISPATCHD_ADMIN_PORT: 'x' })).toThrow(
      /^DISPATCHD_ADMIN_PORT: must be a whole number/,
    );
    const notADir = writeJson({});
    expect(() => config(['-persist-dir', notADir])).toThrow(/^-persist-dir: .* is not a directory$/);
  });

  it('validates the config file and names the key', () => {
    const at = (value: unknown) => () => config(['-config-file', writeJson(value)]);
    expect(at({ 'amqp-port': '5672' })).toThrow(/^-config-file .*dispatchd\.json: amqp-port: /);
    expect(at({ 'amqp-port': 99999 })).toThrow(/: amqp-port: /);
    expect(at({ 'strict-mode': 'yes' })).toThrow(/: strict-mode: /);
    expect(at({ amqp_port: 1 })).toThrow(/: amqp_port: unknown setting$/);
    expect(at({ users: { guest: {} } })).toThrow(/: users\.guest\.password: is required$/);
    expect(at({ users: { guest: { password_bcrypt_base64: 'JDJh' } } })).toThrow(
      /: users\.guest\.password_bcrypt_base64: bcrypt password hashes are not supported yet/,
    );
    expect(at({ users: { guest: { password: 'x', admin: true } } })).toThrow(
      /: users\.guest\.admin: unknown setting/,
    );
    expect(at({ vhosts: [] })).toThrow(/: vhosts: must name at least one vhost/);
    expect(at({ 'frame-max-bytes': 100 })).toThrow(/: frame-max-bytes: /);
    expect(at({ product: '' })).toThrow(/: product: must not be empty/);
    expect(at('{ not json')).toThrow(/^-config-file: cannot read .*dispatchd\.json: /);
    expect(at([1, 2])).toThrow(/: \(root\): /);
    expect(() => config(['-config-file', join(tmp(), 'missing.json')])).toThrow(/^-config-file: cannot read/);
  });
});
