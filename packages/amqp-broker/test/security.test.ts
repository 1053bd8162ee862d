/**
 * Users, password hashes, loopback_users, runtime vhosts and their persistence, over real sockets with
 * amqplib. Hashes come from the original dispatchd README (bcrypt) and from RabbitMQ itself (sha256 from
 * `rabbitmqctl export_definitions`; a sha512 hash of ours imported into RabbitMQ and logged in with).
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { rabbitmqctl } from '@dispatcher/tooling';
import amqp from 'amqplib';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { hashPassword, verifyPassword } from '../src/auth/password-hash.js';
import { BrokerError, BrokerServer } from '../src/index.js';
import { waitFor } from './helpers/amqp-helpers.js';
import { startBrokerChild } from './helpers/broker-child.js';
import { startBroker, uniqueName } from './helpers/targets.js';

/** The example of the original dispatchd README (user guest, password guest). */
const README_BCRYPT_BASE64 =
  'JDJhJDExJENobGk4dG5rY0RGemJhTjhsV21xR3VNNnFZZ1ZqTzUzQWxtbGtyMHRYN3RkUHMuYjF5SUt5';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function started(options: ConstructorParameters<typeof BrokerServer>[0]): Promise<BrokerServer> {
  const { server } = await startBroker(options);
  cleanups.push(() => server.close());
  return server;
}

/** Resolves with 'ok' when the login and open work, else with amqplib's error message. */
async function login(url: string): Promise<string> {
  try {
    const conn = await amqp.connect(url);
    await conn.close();
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
}

/** A non-loopback address of this machine, if it has one. */
function externalIPv4(): string | undefined {
  for (const addresses of Object.values(networkInterfaces()))
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

describe('password hashes', () => {
  it("the original dispatchd README's bcrypt example logs in guest/guest", async () => {
    const hash = Buffer.from(README_BCRYPT_BASE64, 'base64').toString('utf8');
    expect(hash.startsWith('$2a$11$')).toBe(true);
    const server = await started({
      users: { guest: { passwordHash: hash, hashingAlgorithm: 'bcrypt', tags: ['administrator'] } },
    });
    expect(await login(`amqp://guest:guest@127.0.0.1:${server.port}`)).toBe('ok');
    expect(await login(`amqp://guest:nope@127.0.0.1:${server.port}`)).toMatch(/403 \(ACCESS-REFUSED\)/);
  });

  it('a sha256 hash exported by RabbitMQ verifies here; a sha512 hash of ours logs in on RabbitMQ', async () => {
    if (!inject('rabbitmqReachable')) return;
    const user = uniqueName('hash');
    const dir = await mkdtemp(join(tmpdir(), 'dsp-defs-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await rabbitmqctl('add_user', user, 'pw-from-rabbit');
    cleanups.push(() => rabbitmqctl('delete_user', user));
    // To standard output: RabbitMQ's node runs as another user than the test.
    const exported = JSON.parse(await rabbitmqctl('export_definitions', '-', '--format', 'json')) as {
      users: { name: string; password_hash: string; hashing_algorithm: string }[];
    };
    const entry = exported.users.find((u) => u.name === user);
    expect(entry?.hashing_algorithm).toBe('rabbit_password_hashing_sha256');
    const hash = entry?.password_hash ?? '';
    expect(await verifyPassword('pw-from-rabbit', hash, 'rabbit_password_hashing_sha256')).toBe(true);
    expect(await verifyPassword('pw-from-rabbiT', hash, 'rabbit_password_hashing_sha256')).toBe(false);
    const server = await started({
      users: { [user]: { passwordHash: hash, hashingAlgorithm: 'rabbit_password_hashing_sha256' } },
    });
    expect(await login(`amqp://${user}:pw-from-rabbit@127.0.0.1:${server.port}`)).toBe('ok');

    // The other way: RabbitMQ accepts our sha512 (and sha256) hashes in its definitions format.
    const imported = { sha512: `${user}-512`, sha256: `${user}-256` };
    await writeFile(
      join(dir, 'import.json'),
      JSON.stringify({
        users: [
          {
            name: imported.sha512,
            password_hash: hashPassword('ours-512', 'rabbit_password_hashing_sha512'),
            hashing_algorithm: 'rabbit_password_hashing_sha512',
            tags: [],
          },
          {
            name: imported.sha256,
            password_hash: hashPassword('ours-256', 'rabbit_password_hashing_sha256'),
            hashing_algorithm: 'rabbit_password_hashing_sha256',
            tags: [],
          },
        ],
        permissions: [imported.sha512, imported.sha256].map((u) => ({
          user: u,
          vhost: '/',
          configure: '',
          write: '',
          read: '',
        })),
      }),
    );
    // The node reads the file itself.
    await chmod(dir, 0o755);
    await rabbitmqctl('import_definitions', join(dir, 'import.json'));
    for (const u of Object.values(imported)) cleanups.push(() => rabbitmqctl('delete_user', u));
    const rabbit = new URL(inject('rabbitmqUrl'));
    const at = `${rabbit.hostname}:${rabbit.port || 5672}`;
    expect(await login(`amqp://${imported.sha512}:ours-512@${at}`)).toBe('ok');
    expect(await login(`amqp://${imported.sha256}:ours-256@${at}`)).toBe('ok');
    expect(await login(`amqp://${imported.sha512}:wrong@${at}`)).toMatch(/ACCESS-REFUSED/);
  });
});

describe('loopback_users', () => {
  const external = externalIPv4();

  it.skipIf(external === undefined)(
    `guest may log in only from loopback; other users and loopbackUsers: [] may from ${external}`,
    async () => {
      const server = await started({
        host: '0.0.0.0',
        users: { guest: 'guest', remote: 'remote-pw' },
      });
      const port = server.port;
      expect(await login(`amqp://guest:guest@127.0.0.1:${port}`)).toBe('ok');
      expect(await login(`amqp://guest:guest@${external}:${port}`)).toMatch(
        /403 \(ACCESS-REFUSED\) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN/,
      );
      expect(await login(`amqp://remote:remote-pw@${external}:${port}`)).toBe('ok');
      const open = await started({ host: '0.0.0.0', loopbackUsers: [] });
      expect(await login(`amqp://guest:guest@${external}:${open.port}`)).toBe('ok');
    },
  );

  it.skipIf(external === undefined || !inject('rabbitmqReachable'))(
    'RabbitMQ refuses guest from the same non-loopback address alike',
    async () => {
      const rabbit = new URL(inject('rabbitmqUrl'));
      const result = await login(`amqp://guest:guest@${external}:${rabbit.port || 5672}`);
      // RabbitMQ may listen on loopback only; when it does listen there, it must refuse guest.
      if (!/ECONNREFUSED/.test(result))
        expect(result).toMatch(/ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN/);
    },
  );
});

describe('users, permissions and vhosts at run time', () => {
  it('deleteVhost closes its connections with 320 and removes its queues; addVhost needs a permission', async () => {
    const server = await started({ vhosts: ['/', 'v1'] });
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${server.port}/v1`);
    const closed = new Promise<string>((resolve) => conn.on('close', (err: Error) => resolve(String(err))));
    conn.on('error', () => {});
    const ch = await conn.createChannel();
    await ch.assertQueue('q1', { durable: false });
    expect(server.vhost('v1')?.queueCount).toBe(1);
    expect(await server.deleteVhost('v1')).toBe(true);
    expect(await closed).toMatch(
      /320 \(CONNECTION-FORCED\) with message "CONNECTION_FORCED - vhost 'v1' is deleted"/,
    );
    expect(server.vhostNames()).toEqual(['/']);
    expect(server.permissions.list({ vhost: 'v1' })).toEqual([]);
    expect(await login(`amqp://guest:guest@127.0.0.1:${server.port}/v1`)).toMatch(
      /530|Expected ConnectionOpenOk/,
    );

    await server.addVhost('v2');
    expect(server.vhostNames()).toEqual(['/', 'v2']);
    expect(await login(`amqp://guest:guest@127.0.0.1:${server.port}/v2`)).toMatch(
      /Expected ConnectionOpenOk/,
    );
    server.permissions.put({ user: 'guest', vhost: 'v2', configure: '.*', write: '.*', read: '.*' });
    expect(await login(`amqp://guest:guest@127.0.0.1:${server.port}/v2`)).toBe('ok');
    expect(await server.deleteVhost('nope')).toBe(false);
  });

  it.skipIf(!inject('rabbitmqReachable'))(
    "RabbitMQ's delete_vhost closes a connection with the same code and text",
    async () => {
      const vh = uniqueName('delvh');
      await rabbitmqctl('add_vhost', vh);
      cleanups.push(() => rabbitmqctl('delete_vhost', vh));
      await rabbitmqctl('set_permissions', '-p', vh, 'guest', '.*', '.*', '.*');
      const rabbit = new URL(inject('rabbitmqUrl'));
      const conn = await amqp.connect(
        `amqp://guest:guest@${rabbit.hostname}:${rabbit.port || 5672}/${encodeURIComponent(vh)}`,
      );
      conn.on('error', () => {});
      const closed = new Promise<string>((resolve) => conn.on('close', (err: Error) => resolve(String(err))));
      await rabbitmqctl('delete_vhost', vh);
      // RabbitMQ races two closers: the vhost deletion ("is deleted", what we send) and the vhost's supervisor
      // stopping ("is down", seen on a loaded machine). Both are 320 with the vhost named.
      expect(await closed).toMatch(
        new RegExp(
          `320 \\(CONNECTION-FORCED\\) with message "CONNECTION_FORCED - vhost '${vh}' is (deleted|down)"`,
        ),
      );
    },
  );

  it('a user added at run time logs in; a deleted one no longer does', async () => {
    const server = await started({});
    server.users.put({ name: 'alice', password: 'a-pw', tags: ['management'] });
    expect(await login(`amqp://alice:a-pw@127.0.0.1:${server.port}`)).toMatch(/Expected ConnectionOpenOk/);
    server.permissions.put({ user: 'alice', vhost: '/', configure: '', write: '', read: '' });
    expect(await login(`amqp://alice:a-pw@127.0.0.1:${server.port}`)).toBe('ok');
    expect(server.users.get('alice')?.hashingAlgorithm).toBe('rabbit_password_hashing_sha256');
    expect(server.users.get('alice')?.passwordHash).not.toContain('a-pw');
    server.users.delete('alice');
    expect(server.permissions.list({ user: 'alice' })).toEqual([]);
    expect(await login(`amqp://alice:a-pw@127.0.0.1:${server.port}`)).toMatch(/ACCESS-REFUSED/);
  });

  it('a stored user with a broken hash stops start() with DSP_BROKER_STORE_FORMAT', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsp-sec-bad-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, 'definitions.json'),
      JSON.stringify({
        version: 1,
        vhosts: {},
        security: {
          vhosts: ['/'],
          users: [
            {
              name: 'x',
              passwordHash: 'not-base64!',
              hashingAlgorithm: 'rabbit_password_hashing_sha256',
              tags: [],
            },
          ],
          permissions: [],
        },
      }),
    );
    const broker = new BrokerServer({ port: 0, persistDir: dir });
    const err = await broker.start().catch((e: unknown) => e);
    expect(BrokerError.isInstance(err) && err.code).toBe('DSP_BROKER_STORE_FORMAT');
  });

  it('users, permissions and vhosts changed at run time survive kill -9; the options are only the initial state', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsp-sec-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const first = await started({ persistDir: dir, users: { guest: 'guest', bob: 'bob-pw' } });
    await first.addVhost('runtime');
    first.users.put({ name: 'carol', password: 'c-pw', tags: ['monitoring'] });
    first.users.delete('bob');
    first.permissions.put({ user: 'carol', vhost: 'runtime', configure: '^c', write: '^w', read: '^r' });
    await first.flushDefinitions();
    const stored = JSON.parse(await readFile(join(dir, 'definitions.json'), 'utf8')) as {
      security: { users: { name: string; passwordHash: string }[] };
    };
    expect(stored.security.users.map((u) => u.name)).toEqual(['carol', 'guest']);
    expect(JSON.stringify(stored)).not.toContain('c-pw');
    // Dies without closing: what flushDefinitions() confirmed is on disk.
    first.destroy();

    // Another process reads the state, then is killed with SIGKILL.
    const child = await startBrokerChild({ persistDir: dir, users: { guest: 'guest' } });
    const conn = await amqp.connect(`amqp://carol:c-pw@127.0.0.1:${child.port}/runtime`);
    await conn.close();
    expect(await login(`amqp://bob:bob-pw@127.0.0.1:${child.port}`)).toMatch(/ACCESS-REFUSED/);
    await child.kill();

    // Different options: the store wins.
    const again = await started({ persistDir: dir, users: { someone: 'else' }, vhosts: ['/', 'other'] });
    expect(again.vhostNames()).toEqual(['/', 'runtime']);
    expect(again.users.list().map((u) => [u.name, u.tags])).toEqual([
      ['carol', ['monitoring']],
      ['guest', []],
    ]);
    expect(again.permissions.get('carol', 'runtime')).toMatchObject({
      configure: '^c',
      write: '^w',
      read: '^r',
    });
    expect(await login(`amqp://carol:c-pw@127.0.0.1:${again.port}/runtime`)).toBe('ok');
    expect(await login(`amqp://someone:else@127.0.0.1:${again.port}`)).toMatch(/ACCESS-REFUSED/);
    await waitFor(() => again.connectionCount === 0, 'connections closed');
  });
});
