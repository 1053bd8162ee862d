import { useRef } from 'preact/hooks';
import type { NodeInfo, Overview, Queue } from '../api-types.ts';
import { useApi } from '../components/api-context.ts';
import { type Column, DataTable } from '../components/data-table.tsx';
import { ErrorBox } from '../components/error-box.tsx';
import { type ChartData, type ChartSeries, TimeChart } from '../components/time-chart.tsx';
import { usePoll } from '../components/use-poll.ts';
import { useCapabilities } from '../components/user-capabilities.ts';
import { formatBytes, formatCount, formatRate, formatUptime } from '../format.ts';

/** Ten minutes of samples at one every 5 s. */
const HISTORY = 120;

const RATE_SERIES: readonly ChartSeries[] = [
  { label: 'publish', stroke: '#2563eb' },
  { label: 'deliver/get', stroke: '#16a34a' },
  { label: 'ack', stroke: '#9333ea' },
];
const DEPTH_SERIES: readonly ChartSeries[] = [
  { label: 'ready', stroke: '#ea580c' },
  { label: 'unacked', stroke: '#0891b2' },
];

interface Sample {
  overview: Overview;
  queues: Queue[];
  nodes: NodeInfo[];
}

function push(data: ChartData, time: number, values: number[]): ChartData {
  const times = [...data.times, time].slice(-HISTORY);
  return { times, values: values.map((v, i) => [...(data.values[i] ?? []), v].slice(-HISTORY)) };
}

const NODE_COLUMNS: readonly Column<NodeInfo>[] = [
  { title: 'Node', cell: (n) => n.name },
  {
    title: 'Alarms',
    cell: (n) =>
      n.mem_alarm || n.disk_free_alarm ? (
        <strong class="bad">
          {[n.mem_alarm && 'memory', n.disk_free_alarm && 'disk'].filter(Boolean).join(', ')}
        </strong>
      ) : (
        'none'
      ),
  },
  {
    title: 'Memory',
    cell: (n) => `${formatBytes(n.mem_used)} of ${formatBytes(n.mem_limit)}`,
    numeric: true,
  },
  {
    title: 'Disk free',
    cell: (n) => `${formatBytes(n.disk_free)} (limit ${formatBytes(n.disk_free_limit)})`,
    numeric: true,
  },
  {
    title: 'File descriptors',
    cell: (n) => `${formatCount(n.fd_used)} / ${formatCount(n.fd_total)}`,
    numeric: true,
  },
  { title: 'Uptime', cell: (n) => formatUptime(n.uptime), numeric: true },
];

const TOP_QUEUE_COLUMNS: readonly Column<Queue>[] = [
  {
    title: 'Queue',
    cell: (q) => (
      <a href={`#/queues/${encodeURIComponent(q.vhost)}/${encodeURIComponent(q.name)}`}>{q.name}</a>
    ),
  },
  { title: 'Vhost', cell: (q) => q.vhost },
  { title: 'Ready', cell: (q) => formatCount(q.messages_ready), numeric: true },
  { title: 'Unacked', cell: (q) => formatCount(q.messages_unacknowledged), numeric: true },
  { title: 'Incoming', cell: (q) => formatRate(q.message_stats?.publish_details?.rate), numeric: true },
];

export function OverviewView() {
  const api = useApi();
  // Nodes and alarms are for monitoring users and administrators only (the API refuses others).
  const { monitor } = useCapabilities();
  const rates = useRef<ChartData>({ times: [], values: RATE_SERIES.map(() => []) });
  const depths = useRef<ChartData>({ times: [], values: DEPTH_SERIES.map(() => []) });
  const poll = usePoll<Sample>(async (signal) => {
    const [overview, queues, nodes] = await Promise.all([
      api.get<Overview>('overview', signal),
      api.get<Queue[]>('queues', signal),
      monitor ? api.get<NodeInfo[]>('nodes', signal) : Promise.resolve([]),
    ]);
    const now = Date.now() / 1000;
    const s = overview.message_stats ?? {};
    rates.current = push(rates.current, now, [
      s.publish_details?.rate ?? 0,
      s.deliver_get_details?.rate ?? 0,
      s.ack_details?.rate ?? 0,
    ]);
    let ready = 0;
    let unacked = 0;
    for (const q of queues) {
      ready += q.messages_ready ?? 0;
      unacked += q.messages_unacknowledged ?? 0;
    }
    depths.current = push(depths.current, now, [ready, unacked]);
    return { overview, queues, nodes };
  }, 'overview');

  const o = poll.data?.overview;
  const alarms = (poll.data?.nodes ?? []).filter((n) => n.mem_alarm || n.disk_free_alarm);
  // A management user's overview has no queue totals (as RabbitMQ's): its own queues are summed instead.
  let ownMessages = 0;
  for (const q of poll.data?.queues ?? []) ownMessages += q.messages ?? 0;
  const topQueues = [...(poll.data?.queues ?? [])]
    .sort((a, b) => (b.messages ?? 0) - (a.messages ?? 0))
    .slice(0, 10);
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <ErrorBox message={poll.error} />
      {alarms.length > 0 && (
        <p class="error" role="alert">
          Resource alarm on {alarms.map((n) => n.name).join(', ')}: publishers are blocked.
        </p>
      )}
      {o && (
        <dl class="totals">
          <div>
            <dt>Broker</dt>
            <dd>
              {o.product_name ?? 'RabbitMQ'} {o.product_version ?? o.rabbitmq_version}
            </dd>
          </div>
          {Object.entries(o.object_totals ?? {}).map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{formatCount(v)}</dd>
            </div>
          ))}
          <div>
            <dt>messages</dt>
            <dd data-testid="total-messages">{formatCount(o.queue_totals?.messages ?? ownMessages)}</dd>
          </div>
        </dl>
      )}
      <div class="charts">
        <TimeChart title="Message rates" series={RATE_SERIES} data={rates.current} format={formatRate} />
        <TimeChart title="Queued messages" series={DEPTH_SERIES} data={depths.current} format={formatCount} />
      </div>
      {monitor && (
        <>
          <h2>Nodes</h2>
          <DataTable label="Nodes" columns={NODE_COLUMNS} rows={poll.data?.nodes} rowKey={(n) => n.name} />
        </>
      )}
      <h2>Deepest queues</h2>
      <DataTable
        label="Deepest queues"
        columns={TOP_QUEUE_COLUMNS}
        rows={poll.data ? topQueues : undefined}
        rowKey={(q) => `${q.vhost}/${q.name}`}
        empty="No queues."
      />
    </section>
  );
}
