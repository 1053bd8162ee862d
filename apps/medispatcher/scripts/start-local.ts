/**
 * One-command local run: starts a private beanstalkd and redis-server with the project's tooling, writes a
 * medispatcher.toml pointing at them, creates one demo subscription (Redis mode) whose endpoint is a tiny sink
 * on 127.0.0.1, and runs the built gateway until Ctrl-C. Put msgpack jobs into the printed main tube to see them
 * pushed.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBeanstalkd, startRedis } from '@dispatcher/tooling';
import { Redis } from 'ioredis';

const beanstalkd = await startBeanstalkd();
const redisService = await startRedis();
const dir = await mkdtemp(join(tmpdir(), 'medispatcher-local-'));
const sink = createServer((req, res) => {
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => {
    process.stdout.write(`sink: ${req.url} ${decodeURIComponent(body)}\n`);
    res.end('{"status":1}');
  });
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const sinkPort = (sink.address() as { port: number }).port;
const redis = new Redis(redisService.url);
await redis.hset('medispatcher:subscription:1', {
  topic: 'demo.topic',
  subscriberId: '1',
  receptionChannel: `http://127.0.0.1:${sinkPort}/demo`,
});
await redis.sadd('medispatcher:subscriptions', '1');
redis.disconnect();

const config = join(dir, 'medispatcher.toml');
await writeFile(
  config,
  [
    `LOG_DIR="${dir}/log"`,
    `QueueServerAddr="127.0.0.1:${beanstalkd.port}"`,
    'NameOfMainQueue="main-incoming-queue"',
    'SendersPerChannel=2',
    '[Redis]',
    `Addr="127.0.0.1:${redisService.port}"`,
    'DbIndex=0',
    '',
  ].join('\n'),
);
process.stdout.write(
  `beanstalkd 127.0.0.1:${beanstalkd.port}, redis ${redisService.url}, config ${config}\n` +
    `demo subscription 1 on topic "demo.topic" -> http://127.0.0.1:${sinkPort}/demo; main tube "main-incoming-queue"\n` +
    // The defaults of ListenAddr / ControlListenAddr: loopback only, so no token is needed here.
    'legacy RPC on 127.0.0.1:5601; REST API on http://127.0.0.1:5602 (e.g. curl http://127.0.0.1:5602/api/v1/subscriptions)\n',
);

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const child = spawn(process.execPath, [main, '-f', config], { stdio: 'inherit' });
const stop = async () => {
  child.kill('SIGTERM');
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
child.on('exit', (code) => {
  sink.close();
  void Promise.allSettled([
    redisService.stop(),
    beanstalkd.stop(),
    rm(dir, { recursive: true, force: true }),
  ]).then(() => process.exit(code ?? 0));
});
