/**
 * The permission checks of one connection: its user on its vhost. Verdicts are cached per resource (a
 * publisher checks the same exchange for every message) and dropped whenever the permission store
 * changes, so a revoked permission applies to the next method.
 */
import { ACCESS_REFUSED } from '../codec/generated/amqp-spec.js';
import { type AmqpError, channelError } from '../errors.js';
import { exchangeResourceName, type PermissionKind, type PermissionStore } from './permission-store.js';
import type { TopicPermissionKind, TopicPermissionStore } from './topic-permission-store.js';

export type ResourceKind = 'exchange' | 'queue';

const CACHE_MAX = 64;

export class ResourceAccess {
  readonly user: string;
  readonly vhost: string;
  readonly #permissions: PermissionStore;
  readonly #topics: TopicPermissionStore | undefined;
  #version = -1;
  readonly #verdicts = new Map<string, boolean>();

  constructor(permissions: PermissionStore, user: string, vhost: string, topics?: TopicPermissionStore) {
    this.#permissions = permissions;
    this.#topics = topics;
    this.user = user;
    this.vhost = vhost;
  }

  /** Whether topic permissions may apply at all (none exist: publishes skip the exchange-type lookup). */
  get hasTopicPermissions(): boolean {
    return this.#topics !== undefined && !this.#topics.isEmpty;
  }

  /**
   * Topic permissions (RabbitMQ's, for exchanges of type `topic` only): throws channel error 403 ("access
   * to topic 'rk' in exchange 'x' in vhost '/' refused for user 'u'") unless the routing key of a publish
   * (`write`) or of a binding from the exchange (`read`) is allowed.
   */
  checkTopic(kind: TopicPermissionKind, exchangeType: string, exchange: string, routingKey: string): void {
    if (exchangeType !== 'topic' || this.#topics === undefined) return;
    if (this.#topics.allows(this.user, this.vhost, exchange, kind, routingKey)) return;
    throw channelError(
      ACCESS_REFUSED,
      `access to topic '${routingKey}' in exchange '${exchange}' in vhost '${this.vhost}' refused for user '${this.user}'`,
    );
  }

  /**
   * Throws channel error 403 with RabbitMQ's text ("access to queue 'q' in vhost '/' refused for user
   * 'u'") unless the user may `permission` the resource. The default exchange is checked and named as
   * `amq.default`, as RabbitMQ does.
   */
  check(permission: PermissionKind, kind: ResourceKind, name: string): void {
    const resource = kind === 'exchange' ? exchangeResourceName(name) : name;
    if (this.#allowed(permission, kind, resource)) return;
    throw this.refused(kind, resource);
  }

  refused(kind: ResourceKind, resource: string): AmqpError {
    return channelError(
      ACCESS_REFUSED,
      `access to ${kind} '${resource}' in vhost '${this.vhost}' refused for user '${this.user}'`,
    );
  }

  #allowed(permission: PermissionKind, kind: ResourceKind, resource: string): boolean {
    const store = this.#permissions;
    if (store.version !== this.#version) {
      this.#verdicts.clear();
      this.#version = store.version;
    }
    const key = `${permission[0]}${kind[0]}${resource}`;
    let ok = this.#verdicts.get(key);
    if (ok === undefined) {
      ok = store.allows(this.user, this.vhost, permission, resource);
      if (this.#verdicts.size >= CACHE_MAX) this.#verdicts.clear();
      this.#verdicts.set(key, ok);
    }
    return ok;
  }
}
