import type { Binding } from '../api-types.ts';
import { useApi } from '../components/api-context.ts';
import { type Column, DataTable } from '../components/data-table.tsx';
import { ErrorBox } from '../components/error-box.tsx';
import { usePoll } from '../components/use-poll.ts';
import { queueHref } from './queues-view.tsx';

const COLUMNS: readonly Column<Binding>[] = [
  { title: 'Vhost', cell: (b) => b.vhost },
  { title: 'Source', cell: (b) => b.source || '(default)' },
  {
    title: 'Destination',
    cell: (b) =>
      b.destination_type === 'queue' ? (
        <a href={queueHref({ vhost: b.vhost, name: b.destination })}>{b.destination}</a>
      ) : (
        b.destination
      ),
  },
  { title: 'Type', cell: (b) => b.destination_type },
  { title: 'Routing key', cell: (b) => <code>{b.routing_key}</code> },
  {
    title: 'Arguments',
    cell: (b) => (b.arguments && Object.keys(b.arguments).length ? JSON.stringify(b.arguments) : ''),
  },
];

/** Every binding; binding and unbinding a queue happen on its page. */
export function BindingsView() {
  const api = useApi();
  const poll = usePoll((signal) => api.get<Binding[]>('bindings', signal), 'bindings');
  return (
    <section aria-labelledby="bindings-title">
      <h1 id="bindings-title">Bindings</h1>
      <p class="muted">Bind or unbind a queue on its own page (Queues → name).</p>
      <ErrorBox message={poll.error} />
      <DataTable
        label="Bindings"
        columns={COLUMNS}
        rows={poll.data}
        rowKey={(b) => `${b.vhost}/${b.source}/${b.destination_type}/${b.destination}/${b.properties_key}`}
      />
    </section>
  );
}
