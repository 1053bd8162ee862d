import { type BeanstalkdService, type RedisService, startBeanstalkd, startRedis } from '@dispatcher/tooling';
import { Redis } from 'ioredis';
import { BeanstalkPool } from '../../src/beanstalk/beanstalk-pool.js';
import { PushService, type PushServiceOptions } from '../../src/push/push-service.js';
import { UndiciPushTransport } from '../../src/push/push-transport.js';
import { Redistributor, type RedistributorOptions } from '../../src/redistribute/redistributor.js';
import { RedisSubscriptionSource } from '../../src/subscriptions/redis-subscription-source.js';

/** Real beanstalkd servers + redis-server + the gateway's services, torn down by `close()`. */
export interface GatewayEnv {
  readonly beanstalkds: BeanstalkdService[];
  readonly redisService: RedisService;
  readonly redis: Redis;
  readonly pool: BeanstalkPool;
  readonly source: RedisSubscriptionSource;
  readonly addresses: string[];
  startGateway(options?: {
    redistributor?: Partial<RedistributorOptions>;
    push?: Partial<PushServiceOptions>;
  }): Promise<{ redistributor: Redistributor; push: PushService }>;
  close(): Promise<void>;
}

export async function startGatewayEnv(
  servers = 2,
  options: { maxJobSizeBytes?: number } = {},
): Promise<GatewayEnv> {
  const beanstalkds = await Promise.all(Array.from({ length: servers }, () => startBeanstalkd(options)));
  const redisService = await startRedis();
  const redis = new Redis(redisService.url, { maxRetriesPerRequest: 3 });
  const addresses = beanstalkds.map((b) => `127.0.0.1:${b.port}`);
  const pool = new BeanstalkPool({ addresses, client: { reconnectMinDelayMs: 50 } });
  await pool.connect();
  const source = new RedisSubscriptionSource({ redis, pollIntervalMs: 200 });
  const started: { redistributor: Redistributor; push: PushService; transport: UndiciPushTransport }[] = [];
  return {
    beanstalkds,
    redisService,
    redis,
    pool,
    source,
    addresses,
    async startGateway(options = {}) {
      const transport = new UndiciPushTransport();
      const redistributor = new Redistributor({ pool, source, redis, ...options.redistributor });
      const push = new PushService({ pool, source, transport, redis, ...options.push });
      await push.start();
      redistributor.start();
      started.push({ redistributor, push, transport });
      return { redistributor, push };
    },
    async close() {
      for (const g of started) {
        await g.redistributor.close();
        await g.push.close();
        await g.transport.close();
      }
      await source.close();
      await pool.close();
      redis.disconnect();
      await redisService.stop();
      await Promise.all(beanstalkds.map((b) => b.stop()));
    },
  };
}
