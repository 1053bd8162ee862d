import { seg } from '../api-client.ts';
import { type Permission, tagList, type User, type Vhost } from '../api-types.ts';
import { useApi } from '../components/api-context.ts';
import { type Column, DataTable } from '../components/data-table.tsx';
import { ErrorBox, Notice } from '../components/error-box.tsx';
import { readForm } from '../components/form-data.ts';
import { useAction } from '../components/use-action.ts';
import { usePoll } from '../components/use-poll.ts';
import { VhostSelect } from '../components/vhost-select.tsx';
import { formatCount } from '../format.ts';

interface Access {
  users: User[];
  vhosts: Vhost[];
  permissions: Permission[];
}

/** Users, vhosts and permissions: listed for everyone who may see them, changed by administrators. */
export function AccessView() {
  const api = useApi();
  const poll = usePoll<Access>(async (signal) => {
    const [users, vhosts, permissions] = await Promise.all([
      api.get<User[]>('users', signal),
      api.get<Vhost[]>('vhosts', signal),
      api.get<Permission[]>('permissions', signal),
    ]);
    return { users, vhosts, permissions };
  }, 'access');
  const action = useAction();
  const vhostNames = (poll.data?.vhosts ?? []).map((v) => v.name);
  const done = (message: string) => {
    poll.refresh();
    return message;
  };

  const onAddUser = (event: Event) => {
    const { form, get } = readForm(event);
    void action.run(async () => {
      const name = get('name').trim();
      if (!name) throw new Error('Username: required');
      const password = get('password');
      if (!password) throw new Error('Password: required');
      await api.request('PUT', `users/${seg(name)}`, { password, tags: get('tags') });
      form.reset();
      return done(`User ${name} saved.`);
    });
  };
  const onAddVhost = (event: Event) => {
    const { form, get } = readForm(event);
    void action.run(async () => {
      const name = get('name').trim();
      if (!name) throw new Error('Vhost name: required');
      await api.request('PUT', `vhosts/${seg(name)}`, {});
      form.reset();
      return done(`Vhost ${name} created.`);
    });
  };
  const onSetPermission = (event: Event) => {
    const { get } = readForm(event);
    void action.run(async () => {
      const user = get('user');
      const vhost = get('vhost');
      await api.request('PUT', `permissions/${seg(vhost)}/${seg(user)}`, {
        configure: get('configure'),
        write: get('write'),
        read: get('read'),
      });
      return done(`Permissions of ${user} on ${vhost} set.`);
    });
  };
  const remove = (what: string, path: string) => {
    if (!window.confirm(`Delete ${what}?`)) return;
    void action.run(async () => {
      await api.request('DELETE', path);
      return done(`Deleted ${what}.`);
    });
  };

  const userColumns: readonly Column<User>[] = [
    { title: 'User', cell: (u) => u.name },
    { title: 'Tags', cell: (u) => tagList(u.tags).join(', ') || '(none)' },
    {
      title: 'Action',
      cell: (u) =>
        u.name === api.username ? (
          <span class="muted">you</span>
        ) : (
          <button
            type="button"
            class="danger"
            onClick={() => remove(`user ${u.name}`, `users/${seg(u.name)}`)}
            aria-label={`Delete user ${u.name}`}
          >
            Delete
          </button>
        ),
    },
  ];
  const vhostColumns: readonly Column<Vhost>[] = [
    { title: 'Vhost', cell: (v) => v.name },
    { title: 'Messages', cell: (v) => formatCount(v.messages), numeric: true },
    {
      title: 'Action',
      cell: (v) => (
        <button
          type="button"
          class="danger"
          onClick={() => remove(`vhost ${v.name}`, `vhosts/${seg(v.name)}`)}
          aria-label={`Delete vhost ${v.name}`}
        >
          Delete
        </button>
      ),
    },
  ];
  const permissionColumns: readonly Column<Permission>[] = [
    { title: 'User', cell: (p) => p.user },
    { title: 'Vhost', cell: (p) => p.vhost },
    { title: 'Configure', cell: (p) => <code>{p.configure}</code> },
    { title: 'Write', cell: (p) => <code>{p.write}</code> },
    { title: 'Read', cell: (p) => <code>{p.read}</code> },
    {
      title: 'Action',
      cell: (p) => (
        <button
          type="button"
          class="danger"
          onClick={() =>
            remove(`the permissions of ${p.user} on ${p.vhost}`, `permissions/${seg(p.vhost)}/${seg(p.user)}`)
          }
          aria-label={`Clear permissions of ${p.user} on ${p.vhost}`}
        >
          Clear
        </button>
      ),
    },
  ];

  return (
    <section aria-labelledby="access-title">
      <h1 id="access-title">Users, vhosts and permissions</h1>
      <ErrorBox message={poll.error} />
      <ErrorBox message={action.error} />
      <Notice message={action.notice} />
      <h2 id="users-title">Users</h2>
      <DataTable label="Users" columns={userColumns} rows={poll.data?.users} rowKey={(u) => u.name} />
      <form class="form" onSubmit={onAddUser} aria-labelledby="users-title">
        <label for="au-name">Username</label>
        <input id="au-name" name="name" required autocomplete="off" />
        <label for="au-password">Password</label>
        <input id="au-password" name="password" type="password" required autocomplete="new-password" />
        <label for="au-tags">Tags (comma-separated)</label>
        <input id="au-tags" name="tags" placeholder="management" autocomplete="off" />
        <button type="submit" disabled={action.busy}>
          Add or update user
        </button>
      </form>
      <h2 id="vhosts-title">Vhosts</h2>
      <DataTable label="Vhosts" columns={vhostColumns} rows={poll.data?.vhosts} rowKey={(v) => v.name} />
      <form class="form" onSubmit={onAddVhost} aria-labelledby="vhosts-title">
        <label for="av-name">Vhost name</label>
        <input id="av-name" name="name" required autocomplete="off" />
        <button type="submit" disabled={action.busy}>
          Create vhost
        </button>
      </form>
      <h2 id="permissions-title">Permissions</h2>
      <DataTable
        label="Permissions"
        columns={permissionColumns}
        rows={poll.data?.permissions}
        rowKey={(p) => `${p.vhost}/${p.user}`}
      />
      <form class="form" onSubmit={onSetPermission} aria-labelledby="permissions-title">
        <label for="ap-user">User</label>
        <select id="ap-user" name="user" required>
          {(poll.data?.users ?? []).map((u) => (
            <option key={u.name}>{u.name}</option>
          ))}
        </select>
        <label for="ap-vhost">Vhost</label>
        <VhostSelect id="ap-vhost" vhosts={vhostNames} />
        <label for="ap-configure">Configure regexp</label>
        <input id="ap-configure" name="configure" value=".*" autocomplete="off" />
        <label for="ap-write">Write regexp</label>
        <input id="ap-write" name="write" value=".*" autocomplete="off" />
        <label for="ap-read">Read regexp</label>
        <input id="ap-read" name="read" value=".*" autocomplete="off" />
        <button type="submit" disabled={action.busy}>
          Set permissions
        </button>
      </form>
    </section>
  );
}
