import { useState } from 'preact/hooks';
import { seg } from '../api-client.ts';
import type { Binding, GotMessage, Queue } from '../api-types.ts';
import { useApi } from '../components/api-context.ts';
import { type Column, DataTable } from '../components/data-table.tsx';
import { ErrorBox, Notice } from '../components/error-box.tsx';
import { parseArguments, readForm } from '../components/form-data.ts';
import { useAction } from '../components/use-action.ts';
import { usePoll } from '../components/use-poll.ts';
import { formatCount, formatRate } from '../format.ts';
import { navigate } from '../router.ts';
import { PublishForm } from './publish-form.tsx';

/** One queue: its numbers, bindings, and the actions publish, get, bind, purge and delete. */
export function QueueView({ vhost, name }: { vhost: string; name: string }) {
  const api = useApi();
  const path = `queues/${seg(vhost)}/${seg(name)}`;
  const poll = usePoll((signal) => api.get<Queue>(path, signal), path);
  const bindings = usePoll((signal) => api.get<Binding[]>(`${path}/bindings`, signal), `${path}/bindings`);
  const action = useAction();
  const [messages, setMessages] = useState<GotMessage[] | undefined>(undefined);
  const q = poll.data;

  const onGet = (event: Event) => {
    const { get } = readForm(event);
    void action.run(async () => {
      const count = Number(get('count'));
      if (!Number.isInteger(count) || count < 1) throw new Error('Messages: a whole number of at least 1');
      const got = await api.request<GotMessage[]>('POST', `${path}/get`, {
        count,
        ackmode: get('ackmode'),
        encoding: 'auto',
        truncate: 50_000,
      });
      setMessages(got);
      poll.refresh();
      return got.length === 0 ? 'Queue is empty.' : `Got ${got.length} message(s).`;
    });
  };
  const onBind = (event: Event) => {
    const { form, get } = readForm(event);
    void action.run(async () => {
      const source = get('source');
      if (!source) throw new Error('Exchange: required (the default exchange binds every queue already)');
      await api.request('POST', `bindings/${seg(vhost)}/e/${seg(source)}/q/${seg(name)}`, {
        routing_key: get('routing_key'),
        arguments: parseArguments(get('arguments'), 'Arguments'),
      });
      form.reset();
      bindings.refresh();
      return `Bound to ${source}.`;
    });
  };
  const onUnbind = (b: Binding) =>
    void action.run(async () => {
      await api.request(
        'DELETE',
        `bindings/${seg(vhost)}/e/${seg(b.source)}/q/${seg(name)}/${seg(b.properties_key)}`,
      );
      bindings.refresh();
      return `Unbound from ${b.source}.`;
    });
  const onPurge = () => {
    if (!window.confirm(`Purge every ready message of ${name}?`)) return;
    void action.run(async () => {
      await api.request('DELETE', `${path}/contents`);
      poll.refresh();
      return `Queue ${name} purged.`;
    });
  };
  const onDelete = () => {
    if (!window.confirm(`Delete queue ${name} and its messages?`)) return;
    void action.run(async () => {
      await api.request('DELETE', path);
      navigate('#/queues');
      return `Queue ${name} deleted.`;
    });
  };

  const bindingColumns: readonly Column<Binding>[] = [
    { title: 'From exchange', cell: (b) => b.source || '(default)' },
    { title: 'Routing key', cell: (b) => <code>{b.routing_key}</code> },
    {
      title: 'Action',
      cell: (b) =>
        b.source ? (
          <button type="button" class="secondary" onClick={() => onUnbind(b)}>
            Unbind {b.source}
          </button>
        ) : (
          ''
        ),
    },
  ];

  return (
    <section aria-labelledby="queue-title">
      <p>
        <a href="#/queues">← All queues</a>
      </p>
      <h1 id="queue-title">
        Queue <code>{name}</code> <span class="muted">in {vhost}</span>
      </h1>
      <ErrorBox message={poll.error} />
      {q && (
        <dl class="totals" aria-label="Queue numbers">
          <div>
            <dt>Ready</dt>
            <dd data-testid="queue-ready">{formatCount(q.messages_ready ?? 0)}</dd>
          </div>
          <div>
            <dt>Unacked</dt>
            <dd>{formatCount(q.messages_unacknowledged ?? 0)}</dd>
          </div>
          <div>
            <dt>Total</dt>
            <dd data-testid="queue-total">{formatCount(q.messages ?? 0)}</dd>
          </div>
          <div>
            <dt>Consumers</dt>
            <dd>{formatCount(q.consumers ?? 0)}</dd>
          </div>
          <div>
            <dt>Incoming</dt>
            <dd>{formatRate(q.message_stats?.publish_details?.rate)}</dd>
          </div>
          <div>
            <dt>Deliver/get</dt>
            <dd>{formatRate(q.message_stats?.deliver_get_details?.rate)}</dd>
          </div>
          <div>
            <dt>State</dt>
            <dd>{q.state ?? '–'}</dd>
          </div>
          <div>
            <dt>Durable</dt>
            <dd>{q.durable ? 'yes' : 'no'}</dd>
          </div>
        </dl>
      )}
      <div class="actions">
        <button type="button" onClick={onPurge} disabled={action.busy}>
          Purge messages
        </button>
        <button type="button" class="danger" onClick={onDelete} disabled={action.busy}>
          Delete queue
        </button>
      </div>
      <ErrorBox message={action.error} />
      <Notice message={action.notice} />

      <h2 id="get-title">Get messages</h2>
      <form class="form" onSubmit={onGet} aria-labelledby="get-title">
        <label for="get-ackmode">Ack mode</label>
        <select id="get-ackmode" name="ackmode">
          <option value="ack_requeue_true">Nack, requeue (message stays)</option>
          <option value="ack_requeue_false">Ack (message removed)</option>
          <option value="reject_requeue_true">Reject, requeue</option>
          <option value="reject_requeue_false">Reject, no requeue</option>
        </select>
        <label for="get-count">Messages</label>
        <input id="get-count" name="count" type="number" min={1} value="1" required />
        <button type="submit" disabled={action.busy}>
          Get messages
        </button>
      </form>
      {messages && messages.length > 0 && (
        <ol class="messages" aria-label="Messages got">
          {messages.map((m, i) => (
            <li key={i}>
              <p class="muted">
                exchange <code>{m.exchange || '(default)'}</code>, routing key <code>{m.routing_key}</code>,{' '}
                {m.payload_bytes} bytes, {m.payload_encoding}
                {m.redelivered ? ', redelivered' : ''}
              </p>
              <pre class="payload">{m.payload}</pre>
            </li>
          ))}
        </ol>
      )}

      <h2 id="publish-title">Publish a message to this queue</h2>
      <PublishForm
        vhost={vhost}
        exchange=""
        routingKey={name}
        labelledBy="publish-title"
        onPublished={poll.refresh}
      />

      <h2 id="bind-title">Bindings</h2>
      <DataTable
        label="Bindings of this queue"
        columns={bindingColumns}
        rows={bindings.data}
        rowKey={(b) => `${b.source}/${b.properties_key}`}
      />
      <form class="form" onSubmit={onBind} aria-labelledby="bind-title">
        <label for="bind-source">From exchange</label>
        <input id="bind-source" name="source" required autocomplete="off" />
        <label for="bind-key">Routing key</label>
        <input id="bind-key" name="routing_key" autocomplete="off" />
        <label for="bind-args">Arguments (JSON, optional)</label>
        <input id="bind-args" name="arguments" autocomplete="off" />
        <button type="submit" disabled={action.busy}>
          Bind
        </button>
      </form>
    </section>
  );
}
