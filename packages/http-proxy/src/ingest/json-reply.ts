import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

const JSON_TYPE = 'application/json; charset=utf-8';

/** Answers with a JSON body that is already serialized (the hot path builds its own). */
export function replyJson(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** The proxy's error body: `{"error": <machine-readable reason>, "message": <what to do about it>}`. */
export function replyError(
  res: ServerResponse,
  status: number,
  error: string,
  message: string,
  headers?: Record<string, string>,
): void {
  replyJson(res, status, JSON.stringify({ error, message }), headers);
}

/**
 * The same error body on a socket that node:http handed over raw (a CONNECT request), then closes it.
 * `status` must be one of the codes {@link STATUS_CODES} knows.
 */
export function replyErrorOnSocket(socket: Duplex, status: number, error: string, message: string): void {
  const body = JSON.stringify({ error, message });
  socket.on('error', () => {
    // The client went away first: nothing to tell it.
  });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: ${JSON_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
