import type { Channel } from '../api-types.ts';
import { useApi } from '../components/api-context.ts';
import { type Column, DataTable } from '../components/data-table.tsx';
import { ErrorBox } from '../components/error-box.tsx';
import { usePoll } from '../components/use-poll.ts';
import { formatCount } from '../format.ts';

const CHANNEL_COLUMNS: readonly Column<Channel>[] = [
  { title: 'Channel', cell: (c) => c.name },
  { title: 'User', cell: (c) => c.user ?? '–' },
  { title: 'Vhost', cell: (c) => c.vhost ?? '–' },
  { title: 'State', cell: (c) => c.state ?? '–' },
  { title: 'Consumers', cell: (c) => formatCount(c.consumer_count), numeric: true },
  { title: 'Prefetch', cell: (c) => formatCount(c.prefetch_count), numeric: true },
  { title: 'Unacked', cell: (c) => formatCount(c.messages_unacknowledged), numeric: true },
];

export function ChannelsView() {
  const api = useApi();
  const poll = usePoll((signal) => api.get<Channel[]>('channels', signal), 'channels');
  return (
    <section aria-labelledby="channels-title">
      <h1 id="channels-title">Channels</h1>
      <ErrorBox message={poll.error} />
      <DataTable
        label="Channels"
        columns={CHANNEL_COLUMNS}
        rows={poll.data}
        rowKey={(c) => c.name}
        empty="No channels."
      />
    </section>
  );
}
