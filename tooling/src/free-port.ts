import { type AddressInfo, createServer } from 'node:net';

/**
 * Asks the kernel for a currently unused TCP port on `host`.
 *
 * The port is only free at the moment of the call: another process may grab it before the caller binds,
 * so callers that hand it to a server must be ready to retry on "address already in use".
 *
 * @param host - Interface to probe; services started by this package bind 127.0.0.1 only.
 * @returns A port number that was bindable on `host` an instant ago.
 */
export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    // A probe must never keep the test process alive on its own.
    server.unref();
    server.once('error', reject);
    // `exclusive` keeps cluster workers from sharing the handle, so the port really is ours to read.
    server.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = server.address() as AddressInfo;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}
