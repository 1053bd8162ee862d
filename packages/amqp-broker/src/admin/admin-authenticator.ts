/**
 * Who may use the management API: the broker's users (its {@link UserStore}), with their RabbitMQ tags.
 * This interface is the one place to swap for another source.
 */
import type { UserStore } from '../auth/user-store.js';

/** An authenticated management user. */
export interface AdminUser {
  readonly name: string;
  /** RabbitMQ user tags (`administrator`, `monitoring`, `management`, `policymaker`). */
  readonly tags: readonly string[];
}

export interface AdminAuthenticator {
  /** The user for these credentials, or undefined when they are wrong. */
  authenticate(name: string, password: string): AdminUser | undefined | Promise<AdminUser | undefined>;
}

/** Checks against the broker's users (password hashes compared by the store, in constant time). */
export function userStoreAuthenticator(users: UserStore): AdminAuthenticator {
  return {
    async authenticate(name, password) {
      const user = await users.authenticate(name, password);
      return user === undefined ? undefined : { name: user.name, tags: user.tags };
    },
  };
}
