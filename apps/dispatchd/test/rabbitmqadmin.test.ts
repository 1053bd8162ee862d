/**
 * RabbitMQ's own CLI, rabbitmqadmin v1 (the Python script the management plugin ships; run from where
 * Debian's rabbitmq-server installs it, never copied here), against the dispatchd binary.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, adminPort, configFile, launch, listeningPort } from './dispatchd-process.js';

const run = promisify(execFile);
const RABBITMQADMIN =
  process.env.RABBITMQADMIN ??
  '/usr/lib/rabbitmq/lib/rabbitmq_server-3.10.8/plugins/rabbitmq_management-3.10.8/priv/www/cli/rabbitmqadmin';
const missing = !existsSync(RABBITMQADMIN);
if (missing) {
  console.warn(
    `rabbitmqadmin tests skipped: ${RABBITMQADMIN} is missing (install rabbitmq-server or set RABBITMQADMIN)`,
  );
}

describe.skipIf(missing)('rabbitmqadmin v1 against dispatchd', () => {
  let app: App;
  let dir: string;
  let port: number;
  let amqpPort: number;
  const work = mkdtempSync(join(tmpdir(), 'dsp-rabbitmqadmin-'));

  beforeAll(async () => {
    const c = configFile({ vhosts: ['/', 'side'] });
    dir = c.dir;
    app = launch(['-config-file', c.file]);
    amqpPort = await listeningPort(app);
    port = await adminPort(app);
  });
  afterAll(async () => {
    app.p.kill('SIGTERM');
    await app.exited;
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  const admin = async (...args: string[]) => {
    const { stdout } = await run('python3', [
      RABBITMQADMIN,
      '-H',
      '127.0.0.1',
      '-P',
      String(port),
      '-u',
      'guest',
      '-p',
      'guest',
      '-f',
      'raw_json',
      ...args,
    ]);
    return stdout;
  };
  const json = async (...args: string[]) => JSON.parse(await admin(...args)) as Record<string, unknown>[];

  it('declares a queue and a binding, publishes, lists and gets', async () => {
    expect(await admin('declare', 'queue', 'name=ra-q', 'durable=true')).toContain('queue declared');
    expect(await admin('declare', 'exchange', 'name=ra-x', 'type=topic')).toContain('exchange declared');
    expect(await admin('declare', 'binding', 'source=ra-x', 'destination=ra-q', 'routing_key=a.*')).toContain(
      'binding declared',
    );
    expect(await admin('publish', 'exchange=ra-x', 'routing_key=a.b', 'payload=hello')).toContain(
      'Message published',
    );
    const queues = await json('list', 'queues', 'name', 'messages', 'durable');
    expect(queues).toContainEqual({ name: 'ra-q', messages: 1, durable: true });
    const bindings = await json('list', 'bindings', 'source', 'destination', 'routing_key');
    expect(bindings).toContainEqual({ source: 'ra-x', destination: 'ra-q', routing_key: 'a.*' });
    const got = await json('get', 'queue=ra-q', 'ackmode=ack_requeue_false');
    expect(got[0]).toMatchObject({
      payload: 'hello',
      routing_key: 'a.b',
      exchange: 'ra-x',
      redelivered: false,
    });
    expect((await json('list', 'queues', 'name', 'messages')).find((q) => q.name === 'ra-q')?.messages).toBe(
      0,
    );
  });

  it('lists connections', async () => {
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`, {
      clientProperties: { connection_name: 'ra-conn' },
    });
    try {
      const list = await json('list', 'connections', 'name', 'user', 'vhost', 'user_provided_name');
      expect(list).toContainEqual(
        expect.objectContaining({ user: 'guest', vhost: '/', user_provided_name: 'ra-conn' }),
      );
    } finally {
      await conn.close();
    }
  });

  it('exports and imports the whole broker and one vhost (-V)', async () => {
    const whole = join(work, 'whole.json');
    const side = join(work, 'side.json');
    await admin('-V', 'side', 'declare', 'queue', 'name=side-q', 'arguments={"x-max-length":5}');
    expect(await admin('export', whole)).toContain('Exported definitions');
    expect(await admin('-V', 'side', 'export', side)).toContain('Exported definitions');
    const w = JSON.parse(readFileSync(whole, 'utf8')) as {
      queues: { name: string; vhost: string }[];
      vhosts: { name: string }[];
    };
    expect(w.vhosts.map((v) => v.name).sort()).toEqual(['/', 'side']);
    expect(w.queues.map((q) => `${q.vhost}/${q.name}`).sort()).toEqual(['//ra-q', 'side/side-q']);
    const s = JSON.parse(readFileSync(side, 'utf8')) as { queues: unknown[] };
    expect(s.queues).toEqual([
      { name: 'side-q', durable: true, auto_delete: false, arguments: { 'x-max-length': 5 } },
    ]);

    // Delete, import, and the objects are back.
    await admin('delete', 'queue', 'name=ra-q');
    await admin('delete', 'exchange', 'name=ra-x');
    await admin('-V', 'side', 'delete', 'queue', 'name=side-q');
    expect(await admin('import', whole)).toContain('Uploaded definitions');
    expect((await json('list', 'bindings', 'source', 'destination')).some((b) => b.source === 'ra-x')).toBe(
      true,
    );
    await admin('-V', 'side', 'delete', 'queue', 'name=side-q');
    expect(await admin('-V', 'side', 'import', side)).toContain('Uploaded definitions');
    const sideQueues = await json('-V', 'side', 'list', 'queues', 'name', 'arguments');
    expect(sideQueues).toEqual([{ name: 'side-q', arguments: { 'x-max-length': 5 } }]);
    // A file with an inequivalent queue fails, naming why.
    const clash = join(work, 'clash.json');
    writeFileSync(
      clash,
      JSON.stringify({ queues: [{ name: 'side-q', durable: false, auto_delete: false, arguments: {} }] }),
    );
    await expect(admin('-V', 'side', 'import', clash)).rejects.toThrow(/inequivalent arg 'durable'/);
  });
});
