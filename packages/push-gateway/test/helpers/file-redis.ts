import { type RedisService, startRedis } from '@dispatcher/tooling';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';

/**
 * One redis-server for the calling test file, started before its tests and stopped after them, with one
 * client on it handed to `use` with the server's URL (the file keeps its own `redis` variable, so its tests read as before).
 */
export function redisForFile(use: (redis: Redis, url: string) => void): void {
  let service: RedisService | undefined;
  let client: Redis | undefined;
  beforeAll(async () => {
    service = await startRedis();
    client = new Redis(service.url);
    use(client, service.url);
  });
  afterAll(async () => {
    client?.disconnect();
    await service?.stop();
  });
}
