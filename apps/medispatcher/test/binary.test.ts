import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BeanstalkClient } from '@dispatcher/push-gateway';
import { startBeanstalkd, startRedis } from '@dispatcher/tooling';
import { encode } from '@msgpack/msgpack';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { exited, runMedispatcher as run, waitFor } from './helpers/medispatcher-process.js';

describe('medispatcher binary', () => {
  it('prints help and version, and rejects a bad config with the key named', async () => {
    const help = run(['--help']);
    expect(await exited(help)).toBe(0);
    expect(help.output()).toContain('Usage: medispatcher [-f] /path/to/medispatcher.toml');
    const version = run(['--version']);
    expect(await exited(version)).toBe(0);
    expect(version.output()).toMatch(/^medispatcher \d+\.\d+\.\d+ \(commit /);
    const dir = await mkdtemp(join(tmpdir(), 'medi-'));
    try {
      const bad = join(dir, 'bad.toml');
      await writeFile(bad, 'QueueServerAddr = "a b c"\nSendersPerChannel = -1\n');
      const child = run(['-f', bad]);
      expect(await exited(child)).toBe(2);
      expect(child.output()).toContain('QueueServerAddr: must be host:port');
      expect(child.output()).toContain('SendersPerChannel');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs from an original-style TOML file in Redis mode: main tube → subscriber, DATA log on disk, clean SIGTERM', async () => {
    const beanstalkd = await startBeanstalkd();
    const redisService = await startRedis();
    const redis = new Redis(redisService.url);
    const got: string[] = [];
    const sink = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        got.push(body);
        res.end('{"status":1}');
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const dir = await mkdtemp(join(tmpdir(), 'medi-'));
    let child: ReturnType<typeof run> | undefined;
    try {
      const port = (sink.address() as { port: number }).port;
      await redis.hset('medispatcher:subscription:1', {
        topic: 'order.paid',
        subscriberId: '1',
        receptionChannel: `http://127.0.0.1:${port}/hook`,
      });
      await redis.sadd('medispatcher:subscriptions', '1');
      const config = join(dir, 'medispatcher.toml');
      await writeFile(
        config,
        [
          '# medispatcher config file (original keys)',
          `LOG_DIR="${dir}/log"`,
          `QueueServerAddr="127.0.0.1:${beanstalkd.port}"`,
          'NameOfMainQueue="event_center_messages"',
          'SendersPerChannel=2',
          'CoeOfIntervalForRetrySendingMsg=1',
          // Free ports: tests run beside other work on this machine.
          'ListenAddr="127.0.0.1:0"',
          'ControlListenAddr="127.0.0.1:0"',
          'DAEMON_USER="nobody"',
          '[Redis]',
          `Addr="127.0.0.1:${redisService.port}"`,
          'DbIndex=0',
          '[AlerterEmail]',
          'Gateway="http://127.0.0.1"',
        ].join('\n'),
      );
      child = run([config]);
      const producer = new BeanstalkClient({ port: beanstalkd.port });
      await producer.put(encode({ MsgKey: 'order.paid', Body: { id: 7 }, Time: 1700000000 }), {
        tube: 'event_center_messages',
      });
      await producer.close();
      await waitFor('push', () => got.length === 1);
      expect(new URLSearchParams(got[0]).get('message')).toBe('{"id":7}');
      const data = await waitFor('DATA SENT line', async () => {
        const text = await readFile(join(dir, 'log', 'data.log'), 'utf8').catch(() => '');
        return text.includes('"record":"SENT"') ? text : '';
      });
      expect(data).toContain('"dest":"http://127.0.0.1');
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);
      expect(child.output()).toContain('closed');
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      sink.close();
      redis.disconnect();
      await redisService.stop();
      await beanstalkd.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
