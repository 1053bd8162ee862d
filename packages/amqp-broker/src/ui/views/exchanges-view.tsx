import { useState } from 'preact/hooks';
import { seg } from '../api-client.ts';
import type { Exchange } from '../api-types.ts';
import { useApi } from '../components/api-context.ts';
import { type Column, DataTable } from '../components/data-table.tsx';
import { DeclareForm } from '../components/declare-form.tsx';
import { ErrorBox, Notice } from '../components/error-box.tsx';
import { parseArguments, readForm } from '../components/form-data.ts';
import { useAction } from '../components/use-action.ts';
import { usePoll } from '../components/use-poll.ts';
import { useVhosts } from '../components/vhost-select.tsx';
import { formatRate } from '../format.ts';
import { PublishForm } from './publish-form.tsx';

const TYPES = ['direct', 'fanout', 'topic', 'headers'];

export function ExchangesView() {
  const api = useApi();
  const vhosts = useVhosts();
  const poll = usePoll((signal) => api.get<Exchange[]>('exchanges', signal), 'exchanges');
  const declare = useAction();
  const remove = useAction();
  const [publishTo, setPublishTo] = useState<Exchange | undefined>(undefined);

  const onDeclare = (event: Event) => {
    const { form, get, checked } = readForm(event);
    void declare.run(async () => {
      const name = get('name').trim();
      if (!name) throw new Error('Name: required');
      await api.request('PUT', `exchanges/${seg(get('vhost'))}/${seg(name)}`, {
        type: get('type'),
        durable: checked('durable'),
        auto_delete: checked('auto_delete'),
        internal: checked('internal'),
        arguments: parseArguments(get('arguments'), 'Arguments'),
      });
      form.reset();
      poll.refresh();
      return `Exchange ${name} declared.`;
    });
  };
  const onDelete = (x: Exchange) => {
    if (!window.confirm(`Delete exchange ${x.name} in ${x.vhost}?`)) return;
    void remove.run(async () => {
      await api.request('DELETE', `exchanges/${seg(x.vhost)}/${seg(x.name)}`);
      poll.refresh();
      return `Exchange ${x.name} deleted.`;
    });
  };

  const columns: readonly Column<Exchange>[] = [
    { title: 'Name', cell: (x) => x.name || '(AMQP default)' },
    { title: 'Vhost', cell: (x) => x.vhost },
    { title: 'Type', cell: (x) => x.type },
    {
      title: 'Features',
      cell: (x) =>
        [x.durable && 'durable', x.auto_delete && 'auto-delete', x.internal && 'internal']
          .filter(Boolean)
          .join(', '),
    },
    { title: 'In', cell: (x) => formatRate(x.message_stats?.publish_details?.rate), numeric: true },
    {
      title: 'Actions',
      cell: (x) => (
        <span class="row-actions">
          <button
            type="button"
            class="secondary"
            onClick={() => setPublishTo(x)}
            aria-label={`Publish to ${x.name || 'the default exchange'} in ${x.vhost}`}
          >
            Publish
          </button>
          {x.name && !x.name.startsWith('amq.') && (
            <button
              type="button"
              class="danger"
              onClick={() => onDelete(x)}
              aria-label={`Delete exchange ${x.name} in ${x.vhost}`}
            >
              Delete
            </button>
          )}
        </span>
      ),
    },
  ];

  return (
    <section aria-labelledby="exchanges-title">
      <h1 id="exchanges-title">Exchanges</h1>
      <ErrorBox message={poll.error} />
      <ErrorBox message={remove.error} />
      <Notice message={remove.notice} />
      <DataTable
        label="Exchanges"
        columns={columns}
        rows={poll.data}
        rowKey={(x) => `${x.vhost}/${x.name}`}
      />
      {publishTo && (
        <>
          <h2 id="xpub-title">
            Publish to <code>{publishTo.name || '(AMQP default)'}</code> in {publishTo.vhost}
          </h2>
          <PublishForm vhost={publishTo.vhost} exchange={publishTo.name} labelledBy="xpub-title" />
        </>
      )}
      <DeclareForm
        idPrefix="dx"
        title="Declare an exchange"
        vhosts={vhosts}
        submitLabel="Declare exchange"
        action={declare}
        onSubmit={onDeclare}
      >
        <label for="dx-type">Type</label>
        <select id="dx-type" name="type">
          {TYPES.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        <label class="check">
          <input type="checkbox" name="internal" /> Internal
        </label>
      </DeclareForm>
    </section>
  );
}
