/**
 * Who may use the management API. Until the broker has users with tags, every configured broker user
 * is an administrator; this interface is the one place to swap for the tag-aware user store.
 */
import { timingSafeEqual } from 'node:crypto';

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

/** Checks against a name → password map (the broker's `users` option); every user is an administrator. */
export function passwordMapAuthenticator(users: ReadonlyMap<string, string>): AdminAuthenticator {
  return {
    authenticate(name, password) {
      const expected = users.get(name);
      if (expected === undefined) return undefined;
      const a = Buffer.from(password);
      const b = Buffer.from(expected);
      // Constant time for equal lengths; a length difference is all a timing attacker learns.
      if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
      return { name, tags: ['administrator'] };
    },
  };
}
