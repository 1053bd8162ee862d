import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll } from 'vitest';
import type { DestinationPolicy } from '../../src/http/destination-policy.js';
import { createSafeConnector } from '../../src/http/safe-connector.js';

/** A real HTTP server on 127.0.0.1 that answers every request with `reached`. */
export async function startReachedServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((_req, res) => res.end('reached'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** GETs `url` through an undici Agent whose connector enforces `policy`; resolves with the body text. */
export async function fetchVia(policy: DestinationPolicy, url: string): Promise<string> {
  const agent = new Agent({ connect: createSafeConnector(policy, { timeout: 5_000 }) });
  try {
    const response = await request(url, { dispatcher: agent });
    return await response.body.text();
  } finally {
    await agent.close();
  }
}

/** Starts a {@link startReachedServer} for the enclosing `describe` block; `port()` is valid inside tests. */
export function useReachedServer(): { port: () => number } {
  let target: Awaited<ReturnType<typeof startReachedServer>> | undefined;
  beforeAll(async () => {
    target = await startReachedServer();
  });
  afterAll(() => target?.close());
  return { port: () => target?.port ?? 0 };
}
