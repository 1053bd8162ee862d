// The bench's subscribers, in their own process: answer {"status":1} (or hang on /hang/…), count pushes per
// path, and record the latency from the producer's put time carried in the message. Talks to the parent
// over IPC.
import { createServer } from 'node:http';

const counts = new Map<string, number>();
let latencies: number[] = [];
let firstAt = 0;
let lastAt = 0;
const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path.startsWith('/hang/')) return; // never answers
  const chunks: Buffer[] = [];
  req.on('data', (d: Buffer) => chunks.push(d));
  req.on('end', () => {
    const now = Date.now();
    counts.set(path, (counts.get(path) ?? 0) + 1);
    firstAt ||= now;
    lastAt = now;
    const message = new URLSearchParams(Buffer.concat(chunks).toString()).get('message');
    if (message) latencies.push(now - (JSON.parse(message) as { t: number }).t);
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
    latencies = [];
    firstAt = 0;
    lastAt = 0;
    process.send?.({ ok: true });
  } else if (m.cmd === 'counts') {
    process.send?.({ counts: Object.fromEntries(counts), firstAt, lastAt });
  } else if (m.cmd === 'latencies') {
    process.send?.({ latencies });
  } else if (m.cmd === 'exit') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
