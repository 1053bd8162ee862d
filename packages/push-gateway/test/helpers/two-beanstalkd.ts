import { type BeanstalkdService, startBeanstalkd } from '@dispatcher/tooling';
import { afterAll, beforeAll } from 'vitest';
import { BeanstalkPool } from '../../src/beanstalk/beanstalk-pool.js';

/** Two private beanstalkd servers and a connected pool over both, for the file's tests; stopped after them. */
export function useTwoBeanstalkd(): {
  a: () => BeanstalkdService;
  b: () => BeanstalkdService;
  pool: () => BeanstalkPool;
} {
  let a: BeanstalkdService;
  let b: BeanstalkdService;
  let pool: BeanstalkPool;
  beforeAll(async () => {
    a = await startBeanstalkd();
    b = await startBeanstalkd();
    pool = new BeanstalkPool({ addresses: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] });
    await pool.connect();
  });
  afterAll(async () => {
    await pool.close();
    await a.stop();
    await b.stop();
  });
  return { a: () => a, b: () => b, pool: () => pool };
}
