import { seg } from '../api-client.ts';
import type { Queue } from '../api-types.ts';
import { useApi } from '../components/api-context.ts';
import { type Column, DataTable } from '../components/data-table.tsx';
import { DeclareForm } from '../components/declare-form.tsx';
import { ErrorBox } from '../components/error-box.tsx';
import { parseArguments, readForm } from '../components/form-data.ts';
import { useAction } from '../components/use-action.ts';
import { usePoll } from '../components/use-poll.ts';
import { useVhosts } from '../components/vhost-select.tsx';
import { formatCount, formatRate } from '../format.ts';

export function queueHref(q: { vhost: string; name: string }): string {
  return `#/queues/${encodeURIComponent(q.vhost)}/${encodeURIComponent(q.name)}`;
}

const COLUMNS: readonly Column<Queue>[] = [
  { title: 'Name', cell: (q) => <a href={queueHref(q)}>{q.name}</a> },
  { title: 'Vhost', cell: (q) => q.vhost },
  { title: 'State', cell: (q) => q.state ?? '–' },
  { title: 'Ready', cell: (q) => formatCount(q.messages_ready), numeric: true },
  { title: 'Unacked', cell: (q) => formatCount(q.messages_unacknowledged), numeric: true },
  { title: 'Total', cell: (q) => formatCount(q.messages), numeric: true },
  { title: 'Consumers', cell: (q) => formatCount(q.consumers), numeric: true },
  { title: 'Incoming', cell: (q) => formatRate(q.message_stats?.publish_details?.rate), numeric: true },
  {
    title: 'Deliver/get',
    cell: (q) => formatRate(q.message_stats?.deliver_get_details?.rate),
    numeric: true,
  },
  { title: 'Ack', cell: (q) => formatRate(q.message_stats?.ack_details?.rate), numeric: true },
];

export function QueuesView() {
  const api = useApi();
  const vhosts = useVhosts();
  const poll = usePoll((signal) => api.get<Queue[]>('queues', signal), 'queues');
  const declare = useAction();

  const onDeclare = (event: Event) => {
    const { form, get, checked } = readForm(event);
    void declare.run(async () => {
      const name = get('name').trim();
      if (!name) throw new Error('Name: required');
      const body = {
        durable: checked('durable'),
        auto_delete: checked('auto_delete'),
        arguments: parseArguments(get('arguments'), 'Arguments'),
      };
      await api.request('PUT', `queues/${seg(get('vhost'))}/${seg(name)}`, body);
      form.reset();
      poll.refresh();
      return `Queue ${name} declared.`;
    });
  };

  return (
    <section aria-labelledby="queues-title">
      <h1 id="queues-title">Queues</h1>
      <ErrorBox message={poll.error} />
      <DataTable
        label="Queues"
        columns={COLUMNS}
        rows={poll.data}
        rowKey={(q) => `${q.vhost}/${q.name}`}
        empty="No queues."
      />
      <DeclareForm
        idPrefix="dq"
        title="Declare a queue"
        vhosts={vhosts}
        submitLabel="Declare queue"
        action={declare}
        onSubmit={onDeclare}
      />
    </section>
  );
}
