import type { Vhost } from '../api-types.ts';
import { useApi } from './api-context.ts';
import { usePoll } from './use-poll.ts';

/** The vhosts the user can see, for the forms' vhost pickers. */
export function useVhosts(): string[] {
  const api = useApi();
  const poll = usePoll((signal) => api.get<Vhost[]>('vhosts', signal), 'vhosts', 30_000);
  return (poll.data ?? []).map((v) => v.name);
}

export function VhostSelect({
  id,
  vhosts,
  value,
}: {
  id: string;
  vhosts: readonly string[];
  value?: string;
}) {
  return (
    <select id={id} name="vhost" required value={value}>
      {vhosts.map((v) => (
        <option key={v} value={v}>
          {v}
        </option>
      ))}
    </select>
  );
}
