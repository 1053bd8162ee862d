import { seg } from '../api-client.ts';
import type { Connection } from '../api-types.ts';
import { useApi } from '../components/api-context.ts';
import { type Column, DataTable } from '../components/data-table.tsx';
import { ErrorBox, Notice } from '../components/error-box.tsx';
import { useAction } from '../components/use-action.ts';
import { usePoll } from '../components/use-poll.ts';
import { useCapabilities } from '../components/user-capabilities.ts';
import { formatCount } from '../format.ts';

export function ConnectionsView() {
  const api = useApi();
  const can = useCapabilities();
  // As RabbitMQ: administrators close any connection, other users only their own.
  const mayClose = (c: Connection) => can.administrator || c.user === can.name;
  const poll = usePoll((signal) => api.get<Connection[]>('connections', signal), 'connections');
  const close = useAction();
  const onClose = (c: Connection) => {
    if (!window.confirm(`Close connection ${c.name}?`)) return;
    void close.run(async () => {
      await api.request('DELETE', `connections/${seg(c.name)}`);
      poll.refresh();
      return `Connection ${c.name} closed.`;
    });
  };
  const columns: readonly Column<Connection>[] = [
    { title: 'Name', cell: (c) => c.client_properties?.connection_name ?? c.name },
    { title: 'User', cell: (c) => c.user ?? '–' },
    { title: 'Vhost', cell: (c) => c.vhost ?? '–' },
    { title: 'Client', cell: (c) => c.client_properties?.product ?? '–' },
    { title: 'State', cell: (c) => c.state ?? '–' },
    { title: 'Channels', cell: (c) => formatCount(c.channels), numeric: true },
    {
      title: 'Action',
      cell: (c) => (
        <button
          type="button"
          class="danger"
          onClick={() => onClose(c)}
          aria-label={`Close connection ${c.name}`}
          disabled={!mayClose(c)}
          title={mayClose(c) ? undefined : "Only administrators close other users' connections"}
        >
          Close
        </button>
      ),
    },
  ];
  return (
    <section aria-labelledby="connections-title">
      <h1 id="connections-title">Connections</h1>
      <ErrorBox message={poll.error} />
      <ErrorBox message={close.error} />
      <Notice message={close.notice} />
      <DataTable
        label="Connections"
        columns={columns}
        rows={poll.data}
        rowKey={(c) => c.name}
        empty="No connections."
      />
    </section>
  );
}
