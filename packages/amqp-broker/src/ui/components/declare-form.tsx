import type { ComponentChildren } from 'preact';
import { ErrorBox, Notice } from './error-box.tsx';
import type { Action } from './use-action.ts';
import { VhostSelect } from './vhost-select.tsx';

/**
 * The declare form that queues and exchanges share: vhost, name, durable, auto-delete and a JSON arguments
 * box, with `children` for the fields only one of them has, then the action's outcome.
 */
export function DeclareForm({
  idPrefix,
  title,
  vhosts,
  submitLabel,
  action,
  onSubmit,
  children,
}: {
  idPrefix: string;
  title: string;
  vhosts: readonly string[];
  submitLabel: string;
  action: Action;
  onSubmit: (event: Event) => void;
  children?: ComponentChildren;
}) {
  const titleId = `${idPrefix}-title`;
  return (
    <>
      <h2 id={titleId}>{title}</h2>
      <form class="form" onSubmit={onSubmit} aria-labelledby={titleId}>
        <label for={`${idPrefix}-vhost`}>Vhost</label>
        <VhostSelect id={`${idPrefix}-vhost`} vhosts={vhosts} />
        <label for={`${idPrefix}-name`}>Name</label>
        <input id={`${idPrefix}-name`} name="name" required autocomplete="off" />
        {children}
        <label class="check">
          <input type="checkbox" name="durable" defaultChecked /> Durable
        </label>
        <label class="check">
          <input type="checkbox" name="auto_delete" /> Auto-delete
        </label>
        <label for={`${idPrefix}-args`}>Arguments (JSON, optional)</label>
        <input
          id={`${idPrefix}-args`}
          name="arguments"
          placeholder='{"x-max-length": 1000}'
          autocomplete="off"
        />
        <button type="submit" disabled={action.busy}>
          {submitLabel}
        </button>
      </form>
      <ErrorBox message={action.error} />
      <Notice message={action.notice} />
    </>
  );
}
