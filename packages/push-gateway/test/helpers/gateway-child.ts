// A gateway process for the crash test: Redistributor + PushService on the beanstalkd servers and Redis given
// in the environment, Redis-mode subscriptions, short TTRs. Killed with SIGKILL by the test.
import { Redis } from 'ioredis';
import { BeanstalkPool } from '../../src/beanstalk/beanstalk-pool.js';
import { PushService } from '../../src/push/push-service.js';
import { UndiciPushTransport } from '../../src/push/push-transport.js';
import { Redistributor } from '../../src/redistribute/redistributor.js';
import { RedisSubscriptionSource } from '../../src/subscriptions/redis-subscription-source.js';

const addresses = (process.env.GATEWAY_BEANSTALKD ?? '').split(',');
const ttrSec = Number(process.env.GATEWAY_TTR_SEC ?? 2);
const redis = new Redis(process.env.GATEWAY_REDIS ?? '');
const pool = new BeanstalkPool({ addresses, client: { reconnectMinDelayMs: 50 } });
await pool.connect();
const source = new RedisSubscriptionSource({ redis, pollIntervalMs: 200 });
const push = new PushService({ pool, source, transport: new UndiciPushTransport(), redis, ttrSec });
await push.start();
new Redistributor({ pool, source, redis, ttrSec, listenersPerServer: 2 }).start();
process.stdout.write('ready\n');
