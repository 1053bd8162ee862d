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
      warnings: [],
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
      users: { alice: { password: 's3cret', tags: [] }, bob: { password: 'hunter2', tags: [] } },
      vhosts: ['/', 'staging'],
      heartbeatSeconds: 10,
      frameMaxBytes: 65536,
      channelMax: 100,
      maxMessageBytes: 1048576,
      product: 'Dispatcher',
    });
  });

  it('warns about plain-text passwords', () => {
    const file = writeJson({ users: { alice: { password: 's3cret' } } });
    expect(config(['-config-file', file]).warnings).toEqual([
      'users.alice.password: a plain-text password on disk is discouraged; use password_bcrypt_base64 (dispatchd hash-password)',
    ]);
  });

  it('maps password hashes, tags, permissions, loopback-users and TLS onto the broker options', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'cert.pem'), 'CERT');
    writeFileSync(join(dir, 'key.pem'), 'KEY');
    writeFileSync(join(dir, 'ca.pem'), 'CA');
    // The original dispatchd README's example (guest/guest).
    const readme = 'JDJhJDExJENobGk4dG5rY0RGemJhTjhsV21xR3VNNnFZZ1ZqTzUzQWxtbGtyMHRYN3RkUHMuYjF5SUt5';
    const sha256 = 'SnVhvzZUHNUPQ9Afn7+jw7zZ58SOmpw57IzNami/VxaXNudt';
    const file = writeJson({
      vhosts: ['/', 'jobs'],
      users: {
        guest: { password_bcrypt_base64: readme, tags: ['administrator'] },
        worker: {
          password_hash: sha256,
          hashing_algorithm: 'rabbit_password_hashing_sha256',
          permissions: { jobs: { configure: '^jobs\\.', write: '.*', read: '' } },
        },
      },
      'loopback-users': [],
      tls: {
        'cert-file': join(dir, 'cert.pem'),
        'key-file': join(dir, 'key.pem'),
        'ca-file': join(dir, 'ca.pem'),
        'verify-peer': true,
      },
      'amqps-port': 5999,
    });
    const c = config(['-config-file', file]);
    expect(c.warnings).toEqual([]);
    expect(c.broker).toMatchObject({
      users: {
        guest: {
          passwordHash: '$2a$11$Chli8tnkcDFzbaN8lWmqGuM6qYgVjO53Almlkr0tX7tdPs.b1yIKy',
          hashingAlgorithm: 'bcrypt',
          tags: ['administrator'],
        },
        worker: { passwordHash: sha256, hashingAlgorithm: 'rabbit_password_hashing_sha256', tags: [] },
      },
      permissions: [{ user: 'worker', vhost: 'jobs', configure: '^jobs\\.', write: '.*', read: '' }],
      loopbackUsers: [],
      tls: {
        cert: Buffer.from('CERT'),
        key: Buffer.from('KEY'),
        ca: Buffer.from('CA'),
        port: 5999,
        verifyPeer: true,
        failIfNoPeerCert: false,
      },
    });
  });

  it('validates users, permissions and TLS and names the key', () => {
    const at = (value: unknown) => () => config(['-config-file', writeJson(value)]);
    expect(at({ users: { guest: { password_bcrypt_base64: 'JDJh' } } })).toThrow(
      /: users\.guest\.password_bcrypt_base64: must be the base64 of a bcrypt hash/,
    );
    expect(at({ users: { u: { password_hash: 'abc' } } })).toThrow(
      /: users\.u\.hashing_algorithm: is required with password_hash/,
    );
    expect(
      at({ users: { u: { password_hash: 'abc', hashing_algorithm: 'rabbit_password_hashing_sha512' } } }),
    ).toThrow(/: users\.u\.password_hash: is not a rabbit_password_hashing_sha512 hash/);
    expect(at({ users: { u: { password_hash: 'abc', hashing_algorithm: 'sha1' } } })).toThrow(
      /: users\.u\.hashing_algorithm: /,
    );
    expect(at({ users: { u: { password: 'a', password_hash: 'b' } } })).toThrow(
      /give only one of password, password_hash/,
    );
    expect(at({ users: { u: { password: 'a', tags: 'administrator' } } })).toThrow(/: users\.u\.tags: /);
    expect(
      at({
        users: {
          u: { password: 'a', permissions: { staging: { configure: '.*', write: '.*', read: '.*' } } },
        },
      }),
    ).toThrow(/: users\.u\.permissions\.staging: vhost 'staging' is not in "vhosts"/);
    expect(
      at({
        users: { u: { password: 'a', permissions: { '/': { configure: '(', write: '.*', read: '.*' } } } },
      }),
    ).toThrow(/: users\.u\.permissions\.\/\.configure: must be a valid regular expression/);
    expect(at({ 'amqps-port': 5671 })).toThrow(/: amqps-port: needs "tls"/);
    expect(at({ tls: { 'cert-file': '/nonexistent/cert.pem', 'key-file': '/nonexistent/key.pem' } })).toThrow(
      /^tls\.cert-file: cannot read \/nonexistent\/cert\.pem/,
    );
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
    expect(at({ users: { guest: {} } })).toThrow(/: users\.guest\.password_bcrypt_base64: is required/);
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
