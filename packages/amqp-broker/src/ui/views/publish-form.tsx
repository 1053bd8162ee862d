import { useId } from 'preact/hooks';
import { seg } from '../api-client.ts';
import { useApi } from '../components/api-context.ts';
import { ErrorBox, Notice } from '../components/error-box.tsx';
import { readForm } from '../components/form-data.ts';
import { useAction } from '../components/use-action.ts';

/**
 * Publishes one test message through `POST /api/exchanges/{vh}/{x}/publish` (the default exchange is
 * `amq.default` in that path). Says whether the message was routed.
 */
export function PublishForm({
  vhost,
  exchange,
  routingKey = '',
  labelledBy,
  onPublished,
}: {
  vhost: string;
  exchange: string;
  routingKey?: string;
  labelledBy: string;
  onPublished?: () => void;
}) {
  const api = useApi();
  const action = useAction();
  const id = useId();
  const onSubmit = (event: Event) => {
    const { get, checked } = readForm(event);
    void action.run(async () => {
      const result = await api.request<{ routed: boolean }>(
        'POST',
        `exchanges/${seg(vhost)}/${seg(exchange || 'amq.default')}/publish`,
        {
          properties: checked('persistent') ? { delivery_mode: 2 } : {},
          routing_key: get('routing_key'),
          payload: get('payload'),
          payload_encoding: 'string',
        },
      );
      onPublished?.();
      return result.routed ? 'Message published.' : 'Message published but not routed to any queue.';
    });
  };
  return (
    <>
      <form class="form" onSubmit={onSubmit} aria-labelledby={labelledBy}>
        <label for={`${id}-key`}>Routing key</label>
        <input id={`${id}-key`} name="routing_key" value={routingKey} autocomplete="off" />
        <label for={`${id}-payload`}>Payload</label>
        <textarea id={`${id}-payload`} name="payload" rows={3} />
        <label class="check">
          <input type="checkbox" name="persistent" /> Persistent
        </label>
        <button type="submit" disabled={action.busy}>
          Publish message
        </button>
      </form>
      <ErrorBox message={action.error} />
      <Notice message={action.notice} />
    </>
  );
}
