/**
 * The broker's users (RabbitMQ's internal auth backend): name, password hash and its algorithm, tags.
 * Changes are reported to a listener so the broker can persist them (definitions store) and close the
 * connections of a deleted user.
 */
import { BrokerError } from '../errors.js';
import {
  BcryptCache,
  DEFAULT_HASHING_ALGORITHM,
  type HashingAlgorithm,
  hashPassword,
  isHashingAlgorithm,
  isValidHash,
  verifyPassword,
} from './password-hash.js';

/** Tags RabbitMQ knows; others are kept (RabbitMQ stores any tag) but grant nothing. */
export const USER_TAGS = [
  'administrator',
  'monitoring',
  'management',
  'policymaker',
  'impersonator',
  'none',
] as const;
export type KnownUserTag = (typeof USER_TAGS)[number];

/** A stored user. */
export interface User {
  readonly name: string;
  /**
   * The password hash: base64 salted digest for RabbitMQ's algorithms, the bcrypt string for `bcrypt`.
   * '' means the user has no password and cannot log in with one (RabbitMQ's `clear_password`).
   */
  readonly passwordHash: string;
  readonly hashingAlgorithm: HashingAlgorithm;
  readonly tags: readonly string[];
}

/** A user as given to {@link UserStore.put}: a hash, or a plain password hashed on the way in. */
export type UserInput =
  | {
      readonly name: string;
      readonly passwordHash: string;
      /** @defaultValue 'rabbit_password_hashing_sha256' */
      readonly hashingAlgorithm?: HashingAlgorithm;
      readonly tags?: readonly string[];
    }
  | {
      readonly name: string;
      /** Hashed at once with `hashingAlgorithm`; the plain text is not kept. */
      readonly password: string;
      /** @defaultValue 'rabbit_password_hashing_sha256' */
      readonly hashingAlgorithm?: HashingAlgorithm;
      readonly tags?: readonly string[];
    };

export type UserStoreChange =
  | { readonly kind: 'put'; readonly user: User }
  | { readonly kind: 'delete'; readonly name: string };

export class UserStore {
  readonly #users = new Map<string, User>();
  readonly #cache = new BcryptCache();
  #listeners: ((change: UserStoreChange) => void)[] = [];

  constructor(users: Iterable<UserInput> = []) {
    for (const u of users) this.#set(toUser(u));
  }

  /** Every user, sorted by name. */
  list(): User[] {
    return [...this.#users.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): User | undefined {
    return this.#users.get(name);
  }

  has(name: string): boolean {
    return this.#users.has(name);
  }

  get size(): number {
    return this.#users.size;
  }

  /**
   * Adds or replaces a user.
   * @throws BrokerError `DSP_BROKER_INVALID_ARGUMENT` for an empty name, an unknown algorithm or a hash
   * that is not one of that algorithm.
   */
  put(input: UserInput): User {
    const user = toUser(input);
    this.#set(user);
    this.#emit({ kind: 'put', user });
    return user;
  }

  /** Removes a user; false when there was none. Its permissions are the permission store's to drop. */
  delete(name: string): boolean {
    if (!this.#users.delete(name)) return false;
    this.#emit({ kind: 'delete', name });
    return true;
  }

  /** Replaces every user at once (state read back from the definitions store); no change events. */
  replaceAll(users: Iterable<User>): void {
    this.#users.clear();
    for (const u of users) this.#set(toUser(u));
  }

  /**
   * The user when `password` is theirs, else undefined. An unknown user and a wrong password are not told
   * apart (nor is a user without a password).
   */
  async authenticate(name: string, password: string): Promise<User | undefined> {
    const user = this.#users.get(name);
    if (user === undefined || user.passwordHash === '') return undefined;
    const ok = await verifyPassword(password, user.passwordHash, user.hashingAlgorithm, this.#cache);
    // The user may have changed while bcrypt ran: the verdict is for the hash that was checked.
    return ok && this.#users.get(name) === user ? user : undefined;
  }

  /** Calls `listener` after every put and delete; returns the function that unsubscribes. */
  onChange(listener: (change: UserStoreChange) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  #set(user: User): void {
    this.#users.set(user.name, user);
  }

  #emit(change: UserStoreChange): void {
    for (const l of this.#listeners) l(change);
  }
}

function invalid(message: string): BrokerError {
  return new BrokerError('DSP_BROKER_INVALID_ARGUMENT', message);
}

function toUser(input: UserInput): User {
  if (typeof input.name !== 'string' || input.name === '') throw invalid('a user needs a non-empty name');
  const algorithm = input.hashingAlgorithm ?? DEFAULT_HASHING_ALGORITHM;
  if (!isHashingAlgorithm(algorithm)) {
    throw invalid(`user '${input.name}': unknown hashing algorithm '${String(algorithm)}'`);
  }
  const tags = [...new Set(input.tags ?? [])];
  for (const t of tags) {
    if (typeof t !== 'string' || t === '')
      throw invalid(`user '${input.name}': tags must be non-empty strings`);
  }
  if ('password' in input) {
    if (typeof input.password !== 'string') throw invalid(`user '${input.name}': password must be a string`);
    return {
      name: input.name,
      passwordHash: hashPassword(input.password, algorithm),
      hashingAlgorithm: algorithm,
      tags,
    };
  }
  if (input.passwordHash !== '' && !isValidHash(input.passwordHash, algorithm)) {
    throw invalid(`user '${input.name}': password hash is not a valid ${algorithm} hash`);
  }
  return { name: input.name, passwordHash: input.passwordHash, hashingAlgorithm: algorithm, tags };
}
