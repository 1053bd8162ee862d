/**
 * Per-user, per-vhost permissions with RabbitMQ's semantics (rabbit_auth_backend_internal,
 * rabbit_access_control):
 *
 * - three regular expressions, `configure`, `write`, `read`, matched against the resource name
 *   **unanchored** (Erlang's `re:run`: `q` matches `myqueue`; write `^…$` to anchor);
 * - an empty expression matches nothing (RabbitMQ turns it into `^$`, which only the empty name could
 *   match — and the only resource with an empty name, the default exchange, is checked as `amq.default`);
 * - a user may open a connection to a vhost only when it has an entry there, whatever its expressions;
 * - topic permissions (per-exchange routing-key expressions) are `TopicPermissionStore`'s.
 *
 * Expressions are JavaScript RegExps: the PCRE syntax RabbitMQ users write (`.*`, `^amq\.gen.*`,
 * alternations, classes) means the same. Compiled expressions are cached by their source.
 */
import { BrokerError } from '../errors.js';

export type PermissionKind = 'configure' | 'write' | 'read';

/** The three expressions of one user on one vhost. */
export interface Permission {
  readonly user: string;
  readonly vhost: string;
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

export type PermissionStoreChange =
  | { readonly kind: 'put'; readonly permission: Permission }
  | { readonly kind: 'delete'; readonly user: string; readonly vhost: string };

const MATCH_NOTHING = /(?!)/;

export class PermissionStore {
  /** user → vhost → permission. */
  readonly #entries = new Map<string, Map<string, Permission>>();
  readonly #compiled = new Map<string, RegExp>();
  #listeners: ((change: PermissionStoreChange) => void)[] = [];
  #version = 0;

  constructor(permissions: Iterable<Permission> = []) {
    for (const p of permissions) this.#set(checked(p));
  }

  /** Bumped on every change: connections drop their cached verdicts when it moves. */
  get version(): number {
    return this.#version;
  }

  /** Every entry, sorted by user then vhost (optionally only one user's or one vhost's). */
  list(filter: { user?: string; vhost?: string } = {}): Permission[] {
    const out: Permission[] = [];
    for (const byVhost of this.#entries.values())
      for (const p of byVhost.values())
        if (
          (filter.user === undefined || p.user === filter.user) &&
          (filter.vhost === undefined || p.vhost === filter.vhost)
        )
          out.push(p);
    return out.sort((a, b) => cmp(a.user, b.user) || cmp(a.vhost, b.vhost));
  }

  get(user: string, vhost: string): Permission | undefined {
    return this.#entries.get(user)?.get(vhost);
  }

  /**
   * Sets the permissions of a user on a vhost.
   * @throws BrokerError `DSP_BROKER_INVALID_ARGUMENT` when an expression does not compile.
   */
  put(permission: Permission): Permission {
    const p = checked(permission);
    this.#set(p);
    this.#emit({ kind: 'put', permission: p });
    return p;
  }

  /** Removes a user's entry on a vhost (the user can no longer open connections there). */
  delete(user: string, vhost: string): boolean {
    const byVhost = this.#entries.get(user);
    if (byVhost?.delete(vhost) !== true) return false;
    if (byVhost.size === 0) this.#entries.delete(user);
    this.#version++;
    this.#emit({ kind: 'delete', user, vhost });
    return true;
  }

  /** Removes every entry of a user (the user was deleted). */
  deleteUser(user: string): void {
    for (const p of this.list({ user })) this.delete(p.user, p.vhost);
  }

  /** Removes every entry on a vhost (the vhost was deleted). */
  deleteVhost(vhost: string): void {
    for (const p of this.list({ vhost })) this.delete(p.user, p.vhost);
  }

  /** Replaces every entry at once (state read back from the definitions store); no change events. */
  replaceAll(permissions: Iterable<Permission>): void {
    this.#entries.clear();
    for (const p of permissions) this.#set(checked(p));
    this.#version++;
  }

  /** RabbitMQ's check_vhost_access for the internal backend: any entry on the vhost. */
  canAccessVhost(user: string, vhost: string): boolean {
    return this.get(user, vhost) !== undefined;
  }

  /**
   * Whether `user` may `kind` the resource `name` on `vhost`. The default exchange (`''`) is checked as
   * `amq.default`, as RabbitMQ does.
   */
  allows(user: string, vhost: string, kind: PermissionKind, name: string): boolean {
    const p = this.get(user, vhost);
    if (p === undefined) return false;
    return this.#regex(p[kind]).test(name);
  }

  /** Calls `listener` after every put and delete; returns the function that unsubscribes. */
  onChange(listener: (change: PermissionStoreChange) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  #regex(source: string): RegExp {
    if (source === '') return MATCH_NOTHING;
    let re = this.#compiled.get(source);
    if (re === undefined) {
      re = new RegExp(source);
      this.#compiled.set(source, re);
    }
    return re;
  }

  #set(p: Permission): void {
    let byVhost = this.#entries.get(p.user);
    if (byVhost === undefined) {
      byVhost = new Map();
      this.#entries.set(p.user, byVhost);
    }
    byVhost.set(p.vhost, p);
    for (const kind of ['configure', 'write', 'read'] as const) this.#regex(p[kind]);
    this.#version++;
  }

  #emit(change: PermissionStoreChange): void {
    for (const l of this.#listeners) l(change);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checked(p: Permission): Permission {
  const fail = (message: string): never => {
    throw new BrokerError('DSP_BROKER_INVALID_ARGUMENT', message);
  };
  if (typeof p.user !== 'string' || p.user === '') fail('a permission needs a user');
  if (typeof p.vhost !== 'string' || p.vhost === '') fail('a permission needs a vhost');
  for (const kind of ['configure', 'write', 'read'] as const) {
    const source = p[kind];
    if (typeof source !== 'string')
      fail(`permission of '${p.user}' on '${p.vhost}': ${kind} must be a string`);
    try {
      new RegExp(source);
    } catch (err) {
      fail(
        `permission of '${p.user}' on '${p.vhost}': ${kind} is not a valid regular expression: ${(err as Error).message}`,
      );
    }
  }
  return { user: p.user, vhost: p.vhost, configure: p.configure, write: p.write, read: p.read };
}

/** The resource name RabbitMQ checks for an exchange: the default exchange is `amq.default`. */
export function exchangeResourceName(name: string): string {
  return name === '' ? 'amq.default' : name;
}
