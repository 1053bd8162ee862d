import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BeanstalkClient } from '@dispatcher/push-gateway';
import { startBeanstalkd, startRedis } from '@dispatcher/tooling';
import { encode } from '@msgpack/msgpack';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  exited,
  logLine,
  type MedispatcherProcess,
  rawRpcCall,
  runMedispatcher,
  waitFor,
} from './helpers/medispatcher-process.js';

const TOKEN = 'wire-test-token-0123456789';
const MAIN = 'event_center_messages';
const CHANNEL = 'order.paid/sub-queue/1';
const RETRY = `${CHANNEL}/FAIL`;

describe('medispatcher control plane (through the binary)', () => {
  it('serves the legacy RPC and the REST API, and a REST clear pauses and resumes the senders', async () => {
    const beanstalkd = await startBeanstalkd();
    const redisService = await startRedis();
    const redis = new Redis(redisService.url);
    const producer = new BeanstalkClient({ port: beanstalkd.port });
    // The subscriber holds the message with id "held" until the test lets it go.
    const got: string[] = [];
    let held: ServerResponse | undefined;
    const sink = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const id = (JSON.parse(new URLSearchParams(body).get('message') ?? '{}') as { id?: string }).id;
        got.push(String(id));
        if (id === 'held') held = res;
        else res.end('{"status":1}');
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const dir = await mkdtemp(join(tmpdir(), 'medi-ctl-'));
    let child: MedispatcherProcess | undefined;
    const putMain = (id: string) =>
      producer.put(encode({ MsgKey: 'order.paid', Body: { id }, Time: 1700000000 }), { tube: MAIN });
    const watching = async (tube: string) => (await producer.statsTube(tube))?.['current-watching'] ?? 0;
    try {
      const sinkPort = (sink.address() as { port: number }).port;
      await redis.hset('medispatcher:subscription:1', {
        topic: 'order.paid',
        subscriberId: '1',
        receptionChannel: `http://127.0.0.1:${sinkPort}/hook`,
      });
      await redis.sadd('medispatcher:subscriptions', '1');
      const config = join(dir, 'medispatcher.toml');
      await writeFile(
        config,
        [
          `QueueServerAddr="127.0.0.1:${beanstalkd.port}"`,
          `NameOfMainQueue="${MAIN}"`,
          // One sender per tube: while it holds a message, the channel tube's other jobs stay ready.
          'SendersPerChannel=1',
          'SendersPerRetryChannel=1',
          'DefaultMaxMessageProcessTime=120000',
          'MaxMessageProcessTime=120000',
          'ListenAddr="127.0.0.1:0"',
          'ControlListenAddr="127.0.0.1:0"',
          `ControlToken="${TOKEN}"`,
          '[Redis]',
          `Addr="127.0.0.1:${redisService.port}"`,
        ].join('\n'),
      );
      const proc = runMedispatcher([config]);
      child = proc;
      // The servers log their bound (free) ports.
      const listen = (msg: string) => waitFor(msg, () => logLine(proc, msg)?.port as number | undefined);
      const rpcPort = await listen('legacy rpc listening');
      const restPort = await listen('control api listening');
      const rest = (path: string, init: RequestInit = {}, token: string | null = TOKEN) =>
        fetch(`http://127.0.0.1:${restPort}${path}`, {
          ...init,
          headers: token ? { authorization: `Bearer ${token}` } : {},
        });

      // Legacy RPC, original framing on a raw socket.
      const params = await rawRpcCall(rpcPort, 'GetSubscriptionParams', { SubscriptionId: 1 });
      expect(params.status).toBe('ok');
      expect(params.body).toMatchObject({
        SubscriptionId: 1,
        Concurrency: 1,
        ConcurrencyOfRetry: 1,
        ReceptionUri: `http://127.0.0.1:${sinkPort}/hook`,
      });
      const missing = await rawRpcCall(rpcPort, 'GetSubscriptionParams', { SubscriptionId: 99 });
      expect(missing.status).toBe('failed');
      expect(String(missing.body)).toMatch(/^DSP_PUSH_/);

      // REST: token required; health and metrics with it.
      expect((await rest('/health', {}, null)).status).toBe(401);
      expect((await rest('/health', {}, 'wrong-token-0123456789')).status).toBe(401);
      const health = await rest('/health');
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const metrics = await rest('/metrics');
      expect(metrics.status).toBe(200);
      const exposition = await metrics.text();
      expect(exposition).toContain(
        `medispatcher_tube_jobs{server="127.0.0.1:${beanstalkd.port}",tube="${MAIN}"`,
      );
      expect(exposition).toContain('medispatcher_beanstalkd_up');

      // The sender takes "held" and keeps it; two more wait in the channel tube.
      await putMain('held');
      await waitFor('held push', () => held !== undefined);
      await waitFor('retry sender watching', async () => (await watching(RETRY)) === 1);
      for (const id of ['queued-1', 'queued-2'])
        await producer.put(encode({ MsgKey: 'order.paid', Body: { id }, Time: 1700000000 }), {
          tube: CHANNEL,
        });

      let cleared: Response | undefined;
      const clearing = rest('/api/v1/subscriptions/1/clear', { method: 'POST' }).then((r) => {
        cleared = r;
        return r;
      });
      // Paused: the retry sender stopped watching its tube; the clear waits for the push in hand.
      await waitFor('retry sender paused', async () => (await watching(RETRY)) === 0);
      expect(cleared).toBeUndefined();
      (held as ServerResponse | undefined)?.end('{"status":1}');
      const answer = await clearing;
      expect(answer.status).toBe(200);
      expect(await answer.json()).toMatchObject({ deleted: 2 });
      expect(got).toEqual(['held']);
      expect((await producer.statsTube(CHANNEL))?.['current-jobs-ready'] ?? 0).toBe(0);

      // Resumed: the senders watch again and a message put after the clear is pushed.
      await waitFor('retry sender resumed', async () => (await watching(RETRY)) === 1);
      await putMain('after-clear');
      await waitFor('push after the clear', () => got.includes('after-clear'));
      expect(got).toEqual(['held', 'after-clear']);

      proc.kill('SIGTERM');
      expect(await exited(proc)).toBe(0);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      held?.destroy();
      sink.close();
      await producer.close();
      redis.disconnect();
      await redisService.stop();
      await beanstalkd.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a REST listener off loopback without a token, naming the key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'medi-ctl-'));
    try {
      const config = join(dir, 'medispatcher.toml');
      await writeFile(config, 'ControlListenAddr="0.0.0.0:5602"\n');
      const child = runMedispatcher([config]);
      expect(await exited(child)).toBe(2);
      expect(child.output()).toContain('ControlListenAddr: a non-loopback address needs ControlToken');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails the start with exit code 1 when the RPC port is taken, after releasing the engine', async () => {
    const beanstalkd = await startBeanstalkd();
    const redisService = await startRedis();
    const taken = createTcpServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const dir = await mkdtemp(join(tmpdir(), 'medi-ctl-'));
    let child: MedispatcherProcess | undefined;
    try {
      const config = join(dir, 'medispatcher.toml');
      await writeFile(
        config,
        [
          `QueueServerAddr="127.0.0.1:${beanstalkd.port}"`,
          `ListenAddr="127.0.0.1:${(taken.address() as { port: number }).port}"`,
          'ControlListenAddr=""',
          '[Redis]',
          `Addr="127.0.0.1:${redisService.port}"`,
        ].join('\n'),
      );
      child = runMedispatcher([config]);
      expect(await exited(child)).toBe(1);
      expect(child.output()).toContain('EADDRINUSE');
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      taken.close();
      await redisService.stop();
      await beanstalkd.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
