import { connect, type Socket } from 'node:net';

/** A raw-socket client speaking the original's RPC framing byte for byte (no code shared with the server). */
export class RawRpcClient {
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c]);
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  static async open(port: number): Promise<RawRpcClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawRpcClient(socket);
  }

  /** 8-byte ASCII length, NUL-padded, then the body. */
  static frame(body: string | Buffer): Buffer {
    const data = Buffer.from(body);
    const head = Buffer.alloc(8, 0);
    head.write(String(data.length), 'latin1');
    return Buffer.concat([head, data]);
  }

  /** Waits for `n` bytes (or the socket closing), with a deadline. */
  async read(n: number, timeoutMs = 15_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.#buf.length < n) {
      if (this.closed) throw new Error(`socket closed with ${this.#buf.length}/${n} bytes`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} bytes`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return Buffer.from(out);
  }

  /** Reads one response: 8-byte length, 8-byte status, body. */
  async response(): Promise<{ status: string; body: unknown; raw: Buffer }> {
    const head = await this.read(16);
    const length = Number(head.subarray(0, 8).toString('latin1').replace(/\0+$/, ''));
    const status = head.subarray(8, 16).toString('latin1').replace(/\0+$/, '');
    const raw = await this.read(length);
    return { status, body: JSON.parse(raw.toString('utf8')), raw: Buffer.concat([head, raw]) };
  }

  async call(cmd: string, args: unknown): Promise<{ status: string; body: unknown; raw: Buffer }> {
    this.socket.write(RawRpcClient.frame(JSON.stringify({ cmd, args })));
    return this.response();
  }

  /** Waits until the server has closed the connection; returns the bytes it sent before. */
  async closedWith(timeoutMs = 15_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('server did not close');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.#buf;
  }
}
