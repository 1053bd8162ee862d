/**
 * The management API's load in the overhead benchmark: GET /api/queues (as a dashboard or an exporter
 * does) every second against the port in argv[2], in its own process. Sends 'ready' once the first poll
 * answered; on 'stop' reports `{ polls, failures }` and exits.
 */
const port = Number(process.argv[2]);
const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
let polls = 0;
let failures = 0;

async function poll(): Promise<void> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/queues`, { headers: { authorization: auth } });
    await res.arrayBuffer();
    if (res.status === 200) polls++;
    else failures++;
  } catch {
    failures++;
  }
}

await poll();
process.send?.('ready');
const timer = setInterval(() => void poll(), 1000);
process.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  process.send?.({ polls, failures }, () => process.exit(0));
});
