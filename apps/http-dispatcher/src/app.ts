/**
 * Wiring only: the durable log from @dispatcher/core behind a small HTTP server. The store-and-forward
 * proxy (@dispatcher/http-proxy) replaces the request handling when it lands.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DurableLog, type Logger } from '@dispatcher/core';
import type { AppConfig } from './config.js';

export interface RunningApp {
  readonly url: string;
  readonly log: DurableLog;
  close(): Promise<void>;
}

export async function startApp(config: AppConfig, logger: Logger): Promise<RunningApp> {
  const log = await DurableLog.open({ dir: config.transactionLog, logger });
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/_dispatcher/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', log: log.stats() }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not_found', message: `no route for ${req.method} ${req.url}` }));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.listen.port, config.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await log.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url, recovery: log.recovery }, 'http-dispatcher listening');
  let closing: Promise<void> | undefined;
  return {
    url,
    log,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await log.close();
      })();
      return closing;
    },
  };
}
