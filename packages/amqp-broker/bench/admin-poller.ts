/**
 * The management API's load in the overhead benchmark, in its own process, against the port in argv[2]:
 * GET /api/queues every second (as a dashboard does) and GET /metrics every argv[3] seconds (as Prometheus
 * does; default 15, 0: never). Sends 'ready' once the first poll answered; on 'stop' reports
 * `{ polls, scrapes, failures }` and exits.
 */
const port = Number(process.argv[2]);
const scrapeSeconds = Number(process.argv[3] ?? 15);
const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
let polls = 0;
let scrapes = 0;
let failures = 0;

async function get(path: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: auth } });
    await res.arrayBuffer();
    if (res.status === 200) return true;
  } catch {
    // counted below
  }
  failures++;
  return false;
}

async function poll(): Promise<void> {
  if (await get('/api/queues')) polls++;
}

async function scrape(): Promise<void> {
  if (await get('/metrics')) scrapes++;
}

await poll();
if (scrapeSeconds > 0) await scrape();
process.send?.('ready');
const timers = [setInterval(() => void poll(), 1000)];
if (scrapeSeconds > 0) timers.push(setInterval(() => void scrape(), scrapeSeconds * 1000));
process.on('message', (m) => {
  if (m !== 'stop') return;
  for (const t of timers) clearInterval(t);
  process.send?.({ polls, scrapes, failures }, () => process.exit(0));
});
