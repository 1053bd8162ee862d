// The bench's subscriber, in its own process: answers {"status":1} (or hangs on /hang/…), counts pushes per
// path and records the latency from the producer's timestamp in the message. Talks to the parent over IPC.
import { createServer } from 'node:http';

const counts = new Map<string, number>();
const latencies: number[] = [];
const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path.startsWith('/hang/')) return; // never answers
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => {
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const message = new URLSearchParams(body).get('message');
    if (message) latencies.push(Date.now() - (JSON.parse(message) as { t: number }).t);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":1}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as { port: number }).port });
});
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'reset') {
    counts.clear();
    latencies.length = 0;
    process.send?.({ ok: true });
  } else if (m.cmd === 'stats') {
    process.send?.({ counts: Object.fromEntries(counts), latencies });
  } else if (m.cmd === 'exit') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
