// beanstalkd started with a small `-z`: what the gateway does when a copy it makes exceeds the job size limit.
// The copies are re-encoded with every PascalCase field, so they can outgrow a job a producer (or an older
// dispatcher) wrote: the original must never be lost or pushed in a loop.
import { recordingLogger } from '@dispatcher/tooling';
import { encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BeanstalkClient } from '../src/beanstalk/beanstalk-client.js';
import { encodeJob } from '../src/job/job-codec.js';
import { channelTube, DEFAULT_MAIN_TUBE, retryTube } from '../src/job/tube-names.js';
import { type GatewayEnv, startGatewayEnv } from './helpers/gateway-env.js';
import { SubscriberServer } from './helpers/subscriber-server.js';
import { waitFor } from './helpers/wait-for.js';

const LIMIT = 2_000;
let env: GatewayEnv;
let producer: BeanstalkClient;
let sinkA: SubscriberServer;
let sinkB: SubscriberServer;
const { logger: dataLog, entries } = recordingLogger();

beforeAll(async () => {
  env = await startGatewayEnv(1, { maxJobSizeBytes: LIMIT });
  producer = new BeanstalkClient({ port: env.beanstalkds[0]?.port });
  sinkA = await SubscriberServer.start();
  sinkB = await SubscriberServer.start();
});
afterAll(async () => {
  await producer?.close();
  await sinkA?.close();
  await sinkB?.close();
  await env?.close();
});

/** Pads `fixed` with a string body so the encoded job is exactly `bytes` long. */
function jobOfSize(bytes: number, fixed: (body: string) => Record<string, unknown>): Uint8Array {
  let pad = bytes - encode(fixed('')).byteLength;
  for (;;) {
    const job = encode(fixed('x'.repeat(pad)));
    if (job.byteLength === bytes) return job;
    pad += bytes - job.byteLength;
  }
}

async function tube(name: string) {
  const s = await producer.statsTube(name);
  return {
    ready: Number(s?.['current-jobs-ready'] ?? 0),
    reserved: Number(s?.['current-jobs-reserved'] ?? 0),
    buried: Number(s?.['current-jobs-buried'] ?? 0),
  };
}

describe('JOB_TOO_BIG', () => {
  it('buries a main-tube message whose channel copies are too big, with a REDISTFAIL reason, and keeps going', async () => {
    const a = await env.source.create({ topic: 'big', subscriberId: 1, receptionChannel: sinkA.url });
    const b = await env.source.create({ topic: 'big', subscriberId: 2, receptionChannel: sinkB.url });
    await env.startGateway({ redistributor: { dataLog }, push: { dataLog } });

    // PHP-style camelCase job at the limit: the server takes it, but our PascalCase copy is larger.
    const original = jobOfSize(LIMIT, (body) => ({ msgKey: 'big', body, time: 1700000000 }));
    const copySize = encodeJob({
      msgKey: 'big',
      body: 'x'.repeat(LIMIT),
      sender: '',
      time: 1700000000,
      originJobId: 1,
      retryTimes: 0,
      logId: 0,
      delay: 0,
      priority: 0,
      context: '',
      owlContext: '',
    }).byteLength;
    expect(copySize).toBeGreaterThan(LIMIT);
    const bigId = await producer.put(original, { tube: DEFAULT_MAIN_TUBE });
    const small = encode({ msgKey: 'big', body: { small: true }, time: 1700000001 });
    await producer.put(small, { tube: DEFAULT_MAIN_TUBE });

    await waitFor(
      'the small message at both subscribers',
      () => sinkA.received.length >= 1 && sinkB.received.length >= 1,
    );
    await waitFor(
      'the big message buried in the main tube',
      async () => (await tube(DEFAULT_MAIN_TUBE)).buried === 1,
    );
    // Nothing lost: the buried job is the producer's bytes, untouched.
    const buried = await producer.peekBuried({ tube: DEFAULT_MAIN_TUBE });
    expect(buried?.id).toBe(bigId);
    expect(Buffer.compare(buried?.payload as Buffer, Buffer.from(original))).toBe(0);
    expect(await tube(DEFAULT_MAIN_TUBE)).toEqual({ ready: 0, reserved: 0, buried: 1 });
    const records = entries.filter((e) => e.fields.record === 'REDISTFAIL');
    expect(records.map((r) => r.fields.subscriptionId).sort()).toEqual([a.id, b.id].sort());
    expect(String(records[0]?.fields.reason)).toMatch(/JOB_TOO_BIG.*main job buried/);
    expect(records.every((r) => r.fields.originJobId === bigId)).toBe(true);
    // Only the small message was pushed; the channel tubes hold nothing else.
    expect(sinkA.received.map((r) => r.form.get('message'))).toEqual(['{"small":true}']);
    expect(sinkB.received.map((r) => r.form.get('message'))).toEqual(['{"small":true}']);
    expect((await tube(channelTube('big', a.id))).ready + (await tube(channelTube('big', b.id))).ready).toBe(
      0,
    );
  });

  it('buries a channel job whose retry copy is too big instead of pushing it again and again', async () => {
    const c = await env.source.create({
      topic: 'bigretry',
      subscriberId: 3,
      receptionChannel: `${sinkA.url}/c`,
      params: { concurrency: 1 },
    });
    sinkA.answer = (push) =>
      push.path.endsWith('/c') ? { status: 500, body: 'down' } : { status: 200, body: '{"status":1}' };
    await waitFor('senders of the new subscription', async () => (await env.source.get(c.id)) !== undefined);
    const before = sinkA.received.length;
    // What an older dispatcher left in a channel tube: only the keys it wrote, at the limit.
    const job = jobOfSize(LIMIT, (body) => ({ MsgKey: 'bigretry', Body: body, Time: 1700000002 }));
    const channel = channelTube('bigretry', c.id);
    const id = await producer.put(job, { tube: channel });

    await waitFor(
      'the job buried in its channel tube',
      async () => (await tube(channel)).buried === 1,
      60_000,
    );
    expect(sinkA.received.length - before).toBe(1);
    expect(await tube(channel)).toEqual({ ready: 0, reserved: 0, buried: 1 });
    expect((await producer.peekBuried({ tube: channel }))?.id).toBe(id);
    // The retry tube exists (its senders watch it) but never got a job.
    expect((await producer.statsTube(retryTube('bigretry', c.id)))?.['total-jobs'] ?? 0).toBe(0);
    const record = entries.find((e) => e.fields.record === 'TOOBIG');
    expect(record?.fields).toMatchObject({
      subscriptionId: c.id,
      jobId: id,
      tube: channel,
      target: retryTube('bigretry', c.id),
    });
    expect(String(record?.fields.reason)).toMatch(/JOB_TOO_BIG/);
  });
});
