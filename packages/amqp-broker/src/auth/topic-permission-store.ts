/**
 * Topic permissions with RabbitMQ's semantics (rabbit_auth_backend_internal check_topic_access): per user,
 * vhost and topic exchange, a `write` expression the routing key of a publish must match and a `read`
 * expression the routing key of a binding from that exchange must match.
 *
 * - Only exchanges of type `topic` are checked; a user without an entry for the exchange is not limited.
 * - Expressions are matched unanchored; an empty one becomes `^$` (only the empty routing key).
 * - `{username}` and `{vhost}` in an expression are replaced by the user's name and the vhost before
 *   matching (as is, without escaping), so `^{username}\.` gives each user its own prefix.
 */
import { BrokerError } from '../errors.js';

export type TopicPermissionKind = 'write' | 'read';

export interface TopicPermission {
  readonly user: string;
  readonly vhost: string;
  readonly exchange: string;
  readonly write: string;
  readonly read: string;
}

export type TopicPermissionStoreChange =
  | { readonly kind: 'put'; readonly permission: TopicPermission }
  | { readonly kind: 'delete'; readonly user: string; readonly vhost: string; readonly exchange?: string };

const key = (user: string, vhost: string) => `${user}\u0000${vhost}`;

export class TopicPermissionStore {
  /** user + vhost → exchange → entry. */
  readonly #entries = new Map<string, Map<string, TopicPermission>>();
  readonly #compiled = new Map<string, RegExp>();
  #listeners: ((change: TopicPermissionStoreChange) => void)[] = [];
  #version = 0;

  constructor(permissions: Iterable<TopicPermission> = []) {
    for (const p of permissions) this.#set(checked(p));
  }

  /** Bumped on every change: connections drop their cached verdicts when it moves. */
  get version(): number {
    return this.#version;
  }

  /** Whether any entry exists (publishes skip the exchange lookup otherwise). */
  get isEmpty(): boolean {
    return this.#entries.size === 0;
  }

  /** Every entry, sorted by user, vhost, exchange (optionally only one user's and/or one vhost's). */
  list(filter: { user?: string; vhost?: string } = {}): TopicPermission[] {
    const out: TopicPermission[] = [];
    for (const byExchange of this.#entries.values())
      for (const p of byExchange.values())
        if (
          (filter.user === undefined || p.user === filter.user) &&
          (filter.vhost === undefined || p.vhost === filter.vhost)
        )
          out.push(p);
    return out.sort((a, b) => cmp(a.user, b.user) || cmp(a.vhost, b.vhost) || cmp(a.exchange, b.exchange));
  }

  /**
   * Sets a user's topic permission on one exchange of a vhost.
   * @throws BrokerError `DSP_BROKER_INVALID_ARGUMENT` when a field is missing or an expression does not compile.
   */
  put(permission: TopicPermission): TopicPermission {
    const p = checked(permission);
    this.#set(p);
    this.#emit({ kind: 'put', permission: p });
    return p;
  }

  /** Removes a user's entries on a vhost (one exchange's, or all); false when there were none. */
  delete(user: string, vhost: string, exchange?: string): boolean {
    const k = key(user, vhost);
    const byExchange = this.#entries.get(k);
    if (byExchange === undefined) return false;
    if (exchange === undefined) this.#entries.delete(k);
    else {
      if (!byExchange.delete(exchange)) return false;
      if (byExchange.size === 0) this.#entries.delete(k);
    }
    this.#version++;
    this.#emit({ kind: 'delete', user, vhost, ...(exchange === undefined ? {} : { exchange }) });
    return true;
  }

  /** Removes every entry of a user (the user was deleted). */
  deleteUser(user: string): void {
    for (const vhost of new Set(this.list({ user }).map((p) => p.vhost))) this.delete(user, vhost);
  }

  /** Removes every entry on a vhost (the vhost was deleted). */
  deleteVhost(vhost: string): void {
    for (const user of new Set(this.list({ vhost }).map((p) => p.user))) this.delete(user, vhost);
  }

  /** Replaces every entry at once (state read back from the definitions store); no change events. */
  replaceAll(permissions: Iterable<TopicPermission>): void {
    this.#entries.clear();
    for (const p of permissions) this.#set(checked(p));
    this.#version++;
  }

  /** Whether `user` may `kind` (publish: write, bind: read) `routingKey` on the topic exchange. */
  allows(
    user: string,
    vhost: string,
    exchange: string,
    kind: TopicPermissionKind,
    routingKey: string,
  ): boolean {
    const p = this.#entries.get(key(user, vhost))?.get(exchange);
    if (p === undefined) return true;
    const source =
      p[kind] === '' ? '^$' : p[kind].replaceAll('{username}', user).replaceAll('{vhost}', vhost);
    return this.#regex(source).test(routingKey);
  }

  /** Calls `listener` after every put and delete; returns the function that unsubscribes. */
  onChange(listener: (change: TopicPermissionStoreChange) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  #regex(source: string): RegExp {
    let re = this.#compiled.get(source);
    if (re === undefined) {
      // An expansion can make an expression invalid (a user name with `(`): it then matches nothing.
      try {
        re = new RegExp(source);
      } catch {
        re = /(?!)/;
      }
      if (this.#compiled.size >= 1024) this.#compiled.clear();
      this.#compiled.set(source, re);
    }
    return re;
  }

  #set(p: TopicPermission): void {
    const k = key(p.user, p.vhost);
    let byExchange = this.#entries.get(k);
    if (byExchange === undefined) {
      byExchange = new Map();
      this.#entries.set(k, byExchange);
    }
    byExchange.set(p.exchange, p);
    this.#version++;
  }

  #emit(change: TopicPermissionStoreChange): void {
    for (const l of this.#listeners) l(change);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checked(p: TopicPermission): TopicPermission {
  const fail = (message: string): never => {
    throw new BrokerError('DSP_BROKER_INVALID_ARGUMENT', message);
  };
  if (typeof p.user !== 'string' || p.user === '') fail('a topic permission needs a user');
  if (typeof p.vhost !== 'string' || p.vhost === '') fail('a topic permission needs a vhost');
  if (typeof p.exchange !== 'string') fail('a topic permission needs an exchange');
  for (const kind of ['write', 'read'] as const) {
    const source = p[kind];
    if (typeof source !== 'string')
      fail(`topic permission of '${p.user}' on '${p.vhost}': ${kind} must be a string`);
    try {
      new RegExp(source);
    } catch (err) {
      fail(
        `topic permission of '${p.user}' on '${p.vhost}': ${kind} is not a valid regular expression: ${(err as Error).message}`,
      );
    }
  }
  return { user: p.user, vhost: p.vhost, exchange: p.exchange, write: p.write, read: p.read };
}
