import { PushError } from '../../errors.js';

/**
 * The original's RPC framing (rpc/connection/connhandler.go of 2.5.1):
 *
 *   request  = len[8] body[len]            len: ASCII decimal, right-padded with NUL bytes
 *   response = len[8] status[8] body[len]  status: "ok" or "failed", right-padded with NUL bytes
 *   close    = "CLOSE" (client: instead of a length header; server: before it closes the connection)
 *
 * The body of a request is JSON `{"cmd": string, "args": object}`; of an ok response the JSON of the
 * result, of a failed one a JSON string with the error text.
 */

/** Bytes of the length header and of the status tag. */
export const RPC_HEAD_BYTES = 8;
/**
 * The original's client reads the response length from the first 7 header bytes only, so a longer body
 * would be misread: responses are kept below 10^7 bytes.
 */
export const RPC_MAX_RESPONSE_BYTES = 9_999_999;

const CLOSE = Buffer.from('CLOSE');

/** Encodes a response frame. */
export function encodeRpcResponse(status: 'ok' | 'failed', body: Buffer): Buffer {
  if (body.length > RPC_MAX_RESPONSE_BYTES) {
    throw new PushError(
      'DSP_PUSH_RPC_BAD_FRAME',
      `response of ${body.length} bytes exceeds the legacy limit`,
    );
  }
  const frame = Buffer.alloc(RPC_HEAD_BYTES * 2 + body.length);
  frame.write(String(body.length), 0, 'latin1');
  frame.write(status, RPC_HEAD_BYTES, 'latin1');
  body.copy(frame, RPC_HEAD_BYTES * 2);
  return frame;
}

/** Encodes a request frame (for clients and tests). */
export function encodeRpcRequest(body: Buffer | string): Buffer {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  const head = Buffer.alloc(RPC_HEAD_BYTES);
  head.write(String(data.length), 0, 'latin1');
  return Buffer.concat([head, data]);
}

/** What {@link RpcFrameReader.next} found in the buffered bytes. */
export type RpcFrame = { type: 'request'; body: Buffer } | { type: 'close' } | { type: 'partial' };

/** Cuts request frames out of a byte stream; throws `DSP_PUSH_RPC_BAD_FRAME` on a malformed header. */
export class RpcFrameReader {
  #chunks: Buffer[] = [];
  #length = 0;
  readonly #maxBodyBytes: number;

  constructor(maxBodyBytes: number) {
    this.#maxBodyBytes = maxBodyBytes;
  }

  /** Bytes received and not yet returned as a frame. */
  get buffered(): number {
    return this.#length;
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  next(): RpcFrame {
    if (this.#length >= CLOSE.length) {
      const start = this.#peek(CLOSE.length);
      // A client may send "CLOSE" alone (5 bytes) or padded to the 8-byte header.
      if (start.equals(CLOSE)) {
        this.#chunks = [];
        this.#length = 0;
        return { type: 'close' };
      }
    }
    if (this.#length < RPC_HEAD_BYTES) return { type: 'partial' };
    const head = this.#peek(RPC_HEAD_BYTES);
    const nul = head.indexOf(0);
    const digits = head.subarray(0, nul === -1 ? RPC_HEAD_BYTES : nul).toString('latin1');
    if (!/^\d+$/.test(digits) || (nul !== -1 && head.subarray(nul).some((b) => b !== 0))) {
      throw new PushError(
        'DSP_PUSH_RPC_BAD_FRAME',
        'the length header is not 8 bytes of ASCII digits padded with NUL',
      );
    }
    const length = Number(digits);
    if (length < 1) throw new PushError('DSP_PUSH_RPC_BAD_FRAME', 'the request body is empty');
    if (length > this.#maxBodyBytes) {
      throw new PushError(
        'DSP_PUSH_RPC_BAD_FRAME',
        `request of ${length} bytes exceeds ${this.#maxBodyBytes}`,
      );
    }
    if (this.#length < RPC_HEAD_BYTES + length) return { type: 'partial' };
    const all = Buffer.concat(this.#chunks, this.#length);
    const body = all.subarray(RPC_HEAD_BYTES, RPC_HEAD_BYTES + length);
    const rest = all.subarray(RPC_HEAD_BYTES + length);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#length = rest.length;
    return { type: 'request', body: Buffer.from(body) };
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first && first.length >= n) return first.subarray(0, n);
    const all = Buffer.concat(this.#chunks, this.#length);
    this.#chunks = [all];
    return all.subarray(0, n);
  }
}
