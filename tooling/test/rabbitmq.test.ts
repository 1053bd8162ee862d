import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getFreePort } from '../src/free-port.js';
import { assertRabbitMQReachable, DEFAULT_RABBITMQ_URL, rabbitmqUrl } from '../src/rabbitmq.js';

describe('rabbitmqUrl', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('uses RABBITMQ_URL when set and the local guest broker otherwise', () => {
    vi.stubEnv('RABBITMQ_URL', undefined);
    expect(rabbitmqUrl()).toBe('amqp://guest:guest@127.0.0.1:5672');
    expect(rabbitmqUrl()).toBe(DEFAULT_RABBITMQ_URL);
    vi.stubEnv('RABBITMQ_URL', 'amqp://user:pw@rabbit.example:5673/vhost');
    expect(rabbitmqUrl()).toBe('amqp://user:pw@rabbit.example:5673/vhost');
  });
});

describe('assertRabbitMQReachable', () => {
  it('passes against the real RabbitMQ', async () => {
    await expect(assertRabbitMQReachable(rabbitmqUrl(), { timeoutMs: 5_000 })).resolves.toBeUndefined();
  });

  it('fails fast with an error naming RABBITMQ_URL when the port is closed, without leaking the password', async () => {
    const port = await getFreePort();
    const started = Date.now();
    const error = await assertRabbitMQReachable(`amqp://guest:secret@127.0.0.1:${port}`, {
      timeoutMs: 10_000,
    }).catch((caught: unknown) => caught);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((error as Error).message).toContain(
      `RabbitMQ is not reachable at amqp://guest:***@127.0.0.1:${port}`,
    );
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect((error as Error).message).toContain('RABBITMQ_URL');
    expect((error as Error).message).not.toContain('secret');
  });

  describe('against servers that are not AMQP brokers', () => {
    const sockets = new Set<Socket>();
    const serve = async (
      onData: (socket: Socket) => void,
    ): Promise<{ port: number; close(): Promise<void> }> => {
      const server = createServer((socket) => {
        sockets.add(socket);
        socket.on('data', () => onData(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      return {
        port: typeof address === 'object' && address ? address.port : 0,
        close: () =>
          new Promise<void>((resolve) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => resolve());
          }),
      };
    };

    it('times out when the server accepts but never answers', async () => {
      const silent = await serve(() => undefined);
      try {
        await expect(
          assertRabbitMQReachable(`amqp://127.0.0.1:${silent.port}`, { timeoutMs: 300 }),
        ).rejects.toThrow(/RabbitMQ is not reachable .*no complete reply .* within 300 ms.*RABBITMQ_URL/s);
      } finally {
        await silent.close();
      }
    });

    it('rejects a server that answers with a different protocol header', async () => {
      const wrongVersion = await serve((socket) => socket.end(Buffer.from('AMQP\x01\x01\x00\x0a', 'latin1')));
      try {
        await expect(assertRabbitMQReachable(`amqp://127.0.0.1:${wrongVersion.port}`)).rejects.toThrow(
          /does not speak AMQP 0-9-1/,
        );
      } finally {
        await wrongVersion.close();
      }
    });

    it('rejects a server whose first frame is not connection.start', async () => {
      const http = await serve((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
      try {
        await expect(assertRabbitMQReachable(`amqp://127.0.0.1:${http.port}`)).rejects.toThrow(
          /not connection\.start/,
        );
      } finally {
        await http.close();
      }
    });
  });
});
