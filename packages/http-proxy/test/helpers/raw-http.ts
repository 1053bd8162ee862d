/**
 * HTTP over a raw TCP socket, for request forms fetch and undici refuse to send (absolute-form, `OPTIONS *`,
 * CONNECT, `Upgrade`) and for clients that send slowly.
 */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Everything the server sent, as text. */
  raw: string;
}

/** A connected socket to `url`'s host and port; its errors are ignored (the server may cut it). */
export async function rawSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  return socket;
}

/** Resolves when the server has closed `socket`, with everything it sent before. */
export function closed(socket: Socket): Promise<string> {
  let raw = '';
  socket.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')));
  return new Promise((resolve) => socket.once('close', () => resolve(raw)));
}

/** Parses one HTTP/1.1 response (with a content-length body). */
export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = (end < 0 ? raw : raw.slice(0, end)).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0),
    headers,
    body: end < 0 ? '' : raw.slice(end + 4),
    raw,
  };
}

/** Sends `text` as it is and reads the answer until the server closes the connection. */
export async function rawRequest(url: string, text: string): Promise<RawResponse> {
  const socket = await rawSocket(url);
  const done = closed(socket);
  socket.write(text);
  return parseResponse(await done);
}
