import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyPassword } from '@dispatcher/amqp-broker';
import { selfSignedCertificate } from '@dispatcher/tooling';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { type App, adminPort, configFile, launch, listeningPort, main } from './dispatchd-process.js';

/** util-linux `script` gives a command a pseudo-terminal (the hash-password prompt tests). */
const hasScript = spawnSync('script', ['--version']).status === 0;

async function roundTrip(url: string, queue: string, body: string): Promise<string> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { exclusive: true });
    const received = new Promise<string>((resolve) => {
      void ch.consume(queue, (msg) => {
        if (msg) {
          ch.ack(msg);
          resolve(msg.content.toString());
        }
      });
    });
    ch.sendToQueue(queue, Buffer.from(body));
    return await received;
  } finally {
    await conn.close();
  }
}

describe('the dispatchd binary', () => {
  it('prints -help, and exits 2 naming a bad flag or config setting', async () => {
    const help = launch(['-help']);
    expect(await help.exited).toBe(0);
    expect(help.out()).toContain('Usage: dispatchd');
    expect(help.out()).toContain('-persist-dir');
    const bad = launch(['-amqp-port', 'lots']);
    expect(await bad.exited).toBe(2);
    expect(bad.err()).toContain('-amqp-port: must be a whole number, got "lots"');
    const badEnv = launch([], { DISPATCHD_STRICT_MODE: 'sometimes' });
    expect(await badEnv.exited).toBe(2);
    expect(badEnv.err()).toContain('DISPATCHD_STRICT_MODE: must be true or false');
  });

  it('serves amqplib over IPv4 and IPv6 on one port, and exits 0 on SIGTERM', async () => {
    const app = launch(['-amqp-port', '0', '-admin-port=0', '-strict-mode=false'], { LOG_LEVEL: 'info' });
    try {
      const port = await listeningPort(app);
      expect(port).toBeGreaterThan(0);
      const admin = await adminPort(app);
      const overview = await fetch(`http://127.0.0.1:${admin}/api/overview`, {
        headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
      });
      expect(overview.status).toBe(200);
      expect(await roundTrip(`amqp://guest:guest@127.0.0.1:${port}`, 'dispatchd-v4', 'over IPv4')).toBe(
        'over IPv4',
      );
      expect(await roundTrip(`amqp://guest:guest@[::1]:${port}`, 'dispatchd-v6', 'over IPv6')).toBe(
        'over IPv6',
      );
      // A client still connected at shutdown gets connection.close 320 and the process still exits 0.
      const lingering = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
      lingering.on('error', () => {});
      const closed = new Promise<unknown>((resolve) => lingering.on('close', resolve));
      app.p.kill('SIGTERM');
      expect(await app.exited).toBe(0);
      expect(String(await closed)).toMatch(/320/);
      expect(app.out()).toContain('"msg":"closed"');
      // Shutdown order: connections closed (320) and the store flushed before the admin listener goes.
      const order = app
        .out()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(order.indexOf('shutting down')).toBeLessThan(order.indexOf('AMQP broker closed'));
      expect(order.indexOf('AMQP broker closed')).toBeLessThan(order.indexOf('management listener closed'));
      await expect(fetch(`http://127.0.0.1:${admin}/api/overview`)).rejects.toThrow();
    } finally {
      app.p.kill('SIGKILL');
    }
  });

  it('exits 1 naming the address when the port is taken', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '::', resolve));
    const { port } = busy.address() as AddressInfo;
    try {
      const app = launch(['-amqp-port', String(port), '-admin-port', '0']);
      expect(await app.exited).toBe(1);
      expect(app.err()).toContain(`cannot listen on :::${port}`);
    } finally {
      busy.close();
    }
  });

  it('takes users from the config file and rejects the default guest then', async () => {
    const { dir, file } = configFile({ users: { alice: { password: 'pw' } } });
    const app = launch(['-config-file', file]);
    try {
      const port = await listeningPort(app);
      expect(await roundTrip(`amqp://alice:pw@127.0.0.1:${port}`, 'dispatchd-users', 'hi')).toBe('hi');
      await expect(amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`)).rejects.toThrow(
        /ACCESS_REFUSED|403/,
      );
      app.p.kill('SIGTERM');
      expect(await app.exited).toBe(0);
    } finally {
      app.p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the dispatchd binary: resource alarms and limits from the config file', () => {
  it('blocks publishers on a disk alarm for -persist-dir, refuses connections and queues past the limits', async () => {
    const { dir, file } = configFile({
      // More than any disk has free: the disk alarm is set from the start.
      'disk-free-limit-bytes': Number.MAX_SAFE_INTEGER,
      'disk-check-interval-ms': 100,
      'memory-high-watermark-bytes': 4_294_967_296,
      'memory-check-interval-ms': 100,
      'max-connections': 2,
      'max-queues-per-vhost': 1,
    });
    const app = launch(['-config-file', file]);
    const open: amqp.ChannelModel[] = [];
    try {
      const port = await listeningPort(app);
      const url = `amqp://guest:guest@127.0.0.1:${port}`;
      const lines = app
        .out()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.find((l) => l.msg === 'resource limits')).toMatchObject({
        memoryHighWatermarkBytes: 4_294_967_296,
        persistDir: dir,
        diskFreeLimitBytes: Number.MAX_SAFE_INTEGER,
      });
      expect(lines.find((l) => l.msg === 'disk alarm set: publishing connections are blocked')).toMatchObject(
        {
          path: dir,
          freeLimitBytes: Number.MAX_SAFE_INTEGER,
        },
      );

      // max-queues-per-vhost: 1
      const first = await amqp.connect(url);
      open.push(first);
      const ch = await first.createChannel();
      ch.on('error', () => {});
      await ch.assertQueue('dispatchd-limits-1', { exclusive: true });
      await expect(ch.assertQueue('dispatchd-limits-2', { exclusive: true })).rejects.toThrow(
        /406 \(PRECONDITION-FAILED\) with message "PRECONDITION_FAILED - cannot declare queue 'dispatchd-limits-2': queue limit in vhost '\/' \(1\) is reached"/,
      );

      // max-connections: 2 (amqplib's handshake error does not carry the close text)
      const second = await amqp.connect(url);
      await expect(amqp.connect(url)).rejects.toThrow(/ConnectionClose/);
      await second.close();
      open.push(await amqp.connect(url));

      // The disk alarm: a publisher is blocked at its first publish.
      const blocked = new Promise<string>((resolve) => first.on('blocked', resolve));
      const pch = await first.createChannel();
      pch.sendToQueue('dispatchd-limits-1', Buffer.from('waits'));
      expect(await blocked).toBe('low on disk');

      app.p.kill('SIGTERM');
      expect(await app.exited).toBe(0);
    } finally {
      for (const c of open) await c.close().catch(() => undefined);
      app.p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps durable queues and persistent messages in -persist-dir across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dsp-dispatchd-persist-'));
    try {
      let app = launch(['-amqp-port', '0', '-admin-port', '0', '-persist-dir', dir]);
      let port = await listeningPort(app);
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('kept', { durable: true });
      ch.sendToQueue('kept', Buffer.from('survives'), { persistent: true });
      ch.sendToQueue('kept', Buffer.from('transient'), { persistent: false });
      await ch.waitForConfirms();
      await conn.close();
      app.p.kill('SIGKILL'); // no graceful flush: what was confirmed must be on disk already
      await app.exited;
      app = launch(['-amqp-port', '0', '-admin-port', '0', '-persist-dir', dir]);
      try {
        port = await listeningPort(app);
        const again = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
        const ch2 = await again.createChannel();
        const got = await ch2.get('kept', { noAck: true });
        expect(got && got.content.toString()).toBe('survives');
        expect(await ch2.get('kept', { noAck: true })).toBe(false);
        await again.close();
        app.p.kill('SIGTERM');
        expect(await app.exited).toBe(0);
      } finally {
        app.p.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the dispatchd binary: user commands', () => {
  const withStdin = (args: string[], input: string): App => {
    const app = launch(args);
    app.p.stdin.end(input);
    return app;
  };

  it('hash-password prints password_bcrypt_base64; the broker started with it accepts that password only', async () => {
    const hashed = withStdin(['hash-password'], 'correct horse\n');
    expect(await hashed.exited).toBe(0);
    const b64 = hashed.out().trim();
    expect(Buffer.from(b64, 'base64').toString()).toMatch(/^\$2[aby]\$11\$.{53}$/);
    expect(hashed.out()).not.toContain('correct horse');

    const { dir, file } = configFile({
      users: {
        ops: {
          password_bcrypt_base64: b64,
          tags: ['administrator'],
          permissions: { '/': { configure: '^ops-', write: '.*', read: '.*' } },
        },
      },
    });
    const app = launch(['-config-file', file]);
    try {
      const port = await listeningPort(app);
      expect(
        await roundTrip(`amqp://ops:${encodeURIComponent('correct horse')}@127.0.0.1:${port}`, 'ops-q', 'hi'),
      ).toBe('hi');
      await expect(amqp.connect(`amqp://ops:wrong@127.0.0.1:${port}`)).rejects.toThrow(/ACCESS_REFUSED|403/);
      // Permissions from the config: configure only on ops-*.
      const conn = await amqp.connect(`amqp://ops:${encodeURIComponent('correct horse')}@127.0.0.1:${port}`);
      try {
        const ch = await conn.createChannel();
        ch.on('error', () => {});
        await expect(ch.assertQueue('other-q', { exclusive: true })).rejects.toThrow(
          /403 \(ACCESS-REFUSED\) with message "ACCESS_REFUSED - access to queue 'other-q' in vhost '\/' refused for user 'ops'"/,
        );
      } finally {
        await conn.close().catch(() => undefined);
      }
      app.p.kill('SIGTERM');
      expect(await app.exited).toBe(0);
    } finally {
      app.p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hash-password --algorithm rabbit_password_hashing_sha512 prints a RabbitMQ password_hash', async () => {
    const hashed = withStdin(['hash-password', '--algorithm', 'rabbit_password_hashing_sha512'], 'pw\n');
    expect(await hashed.exited).toBe(0);
    expect(Buffer.from(hashed.out().trim(), 'base64')).toHaveLength(4 + 64);
    const bad = withStdin(['hash-password', '--algorithm', 'sha1'], 'pw\n');
    expect(await bad.exited).toBe(2);
    expect(bad.err()).toContain('dispatchd hash-password: --algorithm: ');
    const empty = withStdin(['hash-password'], '\n');
    expect(await empty.exited).toBe(2);
    expect(empty.err()).toContain('password: must not be empty');
  });

  /** Runs `dispatchd ARGS` on a pseudo-terminal (util-linux `script`): what the terminal shows, and typing. */
  const onTerminal = (args: string[]) => {
    const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
    const command = [process.execPath, '--import', 'tsx', main, ...args].map(quote).join(' ');
    const p = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let screen = '';
    p.stdout.on('data', (d: Buffer) => (screen += d));
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    return { p, exited, screen: () => screen };
  };

  it.skipIf(!hasScript)(
    'hash-password on a terminal: nothing of the password is echoed; Backspace edits it',
    async () => {
      const secret = `tty-${Date.now().toString(36)}-secret`;
      const term = onTerminal(['hash-password']);
      try {
        // Type only once the prompt is up (raw mode is on): before that the terminal would still echo.
        await expect.poll(term.screen, { timeout: 30_000, interval: 50 }).toContain('Password (not shown): ');
        term.p.stdin.write(`${secret}X\u007f\r`);
        expect(await term.exited).toBe(0);
      } finally {
        term.p.kill('SIGKILL');
      }
      const screen = term.screen();
      expect(screen).not.toContain(secret);
      expect(screen).not.toContain('tty-');
      const b64 = screen.trim().split(/\r?\n/).at(-1)?.trim() ?? '';
      const hash = Buffer.from(b64, 'base64').toString();
      expect(hash).toMatch(/^\$2[aby]\$11\$.{53}$/);
      expect(await verifyPassword(secret, hash, 'bcrypt')).toBe(true);
    },
  );

  it.skipIf(!hasScript)(
    'hash-password on a terminal: Ctrl-C cancels with a message and exit code 2',
    async () => {
      const term = onTerminal(['hash-password']);
      try {
        await expect.poll(term.screen, { timeout: 30_000, interval: 50 }).toContain('Password (not shown): ');
        term.p.stdin.write('abc\u0003');
        expect(await term.exited).toBe(2);
      } finally {
        term.p.kill('SIGKILL');
      }
      expect(term.screen()).toContain('dispatchd hash-password: password: cancelled');
      expect(term.screen()).not.toContain('abc');
    },
  );

  it('add-user prints the config entry; pasted into the config it logs in with those tags and permissions', async () => {
    const added = withStdin(
      [
        'add-user',
        'worker',
        '--tags',
        'monitoring,impersonator',
        '--vhost',
        '/',
        '--configure',
        '^w-',
        '--read',
        '',
      ],
      's3cret\n',
    );
    expect(await added.exited).toBe(0);
    const entry = JSON.parse(added.out()) as Record<string, Record<string, unknown>>;
    expect(entry.worker).toMatchObject({
      tags: ['monitoring', 'impersonator'],
      permissions: { '/': { configure: '^w-', write: '.*', read: '' } },
    });
    expect(added.out()).not.toContain('s3cret');
    const missing = withStdin(['add-user'], 'x\n');
    expect(await missing.exited).toBe(2);
    expect(missing.err()).toContain('NAME: give exactly one user name');

    const { dir, file } = configFile({ users: entry });
    const app = launch(['-config-file', file]);
    try {
      const port = await listeningPort(app);
      const conn = await amqp.connect(`amqp://worker:s3cret@127.0.0.1:${port}`);
      try {
        const ch = await conn.createChannel();
        ch.on('error', () => {});
        await ch.assertQueue('w-1', { exclusive: true });
        // read is '': nothing may be consumed.
        await expect(ch.get('w-1')).rejects.toThrow(/403 \(ACCESS-REFUSED\)/);
      } finally {
        await conn.close().catch(() => undefined);
      }
      app.p.kill('SIGTERM');
      expect(await app.exited).toBe(0);
    } finally {
      app.p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the dispatchd binary: TLS from the config file', () => {
  it('serves amqps on amqps-port with the configured certificate, beside the plain port', async () => {
    const { dir, file } = configFile({});
    // A self-signed certificate for 127.0.0.1, made now.
    const credentials = await selfSignedCertificate({
      commonName: 'dispatchd-test',
      subjectAltName: 'IP:127.0.0.1',
      days: 2,
    });
    writeFileSync(join(dir, 'cert.pem'), credentials.cert);
    writeFileSync(join(dir, 'key.pem'), credentials.key);
    writeFileSync(
      file,
      JSON.stringify({
        'amqp-port': 0,
        'admin-port': 0,
        'persist-dir': dir,
        tls: { 'cert-file': join(dir, 'cert.pem'), 'key-file': join(dir, 'key.pem') },
        'amqps-port': 0,
      }),
    );
    const app = launch(['-config-file', file]);
    try {
      await listeningPort(app);
      const line = app
        .out()
        .split('\n')
        .find((l) => l.includes('"msg":"listening"'));
      const { amqpsPort } = JSON.parse(line ?? '{}') as { amqpsPort?: number };
      expect(amqpsPort).toBeGreaterThan(0);
      const conn = await amqp.connect(`amqps://guest:guest@127.0.0.1:${amqpsPort}`, {
        ca: [readFileSync(join(dir, 'cert.pem'))],
      });
      const ch = await conn.createChannel();
      expect((await ch.assertQueue('', { exclusive: true })).queue).toMatch(/^amq\.gen-/);
      await conn.close();
      app.p.kill('SIGTERM');
      expect(await app.exited).toBe(0);
    } finally {
      app.p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
