/**
 * Password hashes the broker accepts:
 *
 * - `bcrypt`: dispatchd's format. The stored hash is the bcrypt string (`$2a$…`/`$2b$…`/`$2y$…`);
 *   dispatchd's config holds it base64-encoded (`password_bcrypt_base64`).
 * - RabbitMQ's `rabbit_password_hashing_sha256` / `_sha512` / `_md5` (the last for importing old
 *   definitions only): base64 of a 4-byte salt followed by sha(salt ++ password), as RabbitMQ's
 *   definitions export writes `password_hash`.
 *
 * Every comparison of digests is constant-time (`timingSafeEqual`).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';

export const HASHING_ALGORITHMS = [
  'bcrypt',
  'rabbit_password_hashing_sha256',
  'rabbit_password_hashing_sha512',
  'rabbit_password_hashing_md5',
] as const;
export type HashingAlgorithm = (typeof HASHING_ALGORITHMS)[number];

/** What new hashes use unless told otherwise: RabbitMQ's default, so exports import into RabbitMQ. */
export const DEFAULT_HASHING_ALGORITHM: HashingAlgorithm = 'rabbit_password_hashing_sha256';

/** bcrypt cost of hashes the broker makes (`dispatchd hash-password`). */
export const BCRYPT_ROUNDS = 11;

const RABBIT_DIGEST = {
  rabbit_password_hashing_sha256: 'sha256',
  rabbit_password_hashing_sha512: 'sha512',
  rabbit_password_hashing_md5: 'md5',
} as const;

export function isHashingAlgorithm(name: string): name is HashingAlgorithm {
  return (HASHING_ALGORITHMS as readonly string[]).includes(name);
}

/**
 * Hashes `password` with `algorithm`: a base64 salted digest for RabbitMQ's algorithms, the bcrypt string
 * for bcrypt.
 */
export function hashPassword(
  password: string,
  algorithm: HashingAlgorithm = DEFAULT_HASHING_ALGORITHM,
): string {
  if (algorithm === 'bcrypt') return bcrypt.hashSync(password, BCRYPT_ROUNDS);
  const salt = randomBytes(4);
  return Buffer.concat([salt, rabbitDigest(algorithm, salt, password)]).toString('base64');
}

/** A well-formed stored hash for `algorithm` (checked when users are added, so a typo fails loudly). */
export function isValidHash(hash: string, algorithm: HashingAlgorithm): boolean {
  if (algorithm === 'bcrypt') return /^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(hash);
  const bytes = Buffer.from(hash, 'base64');
  return bytes.toString('base64') === hash && bytes.length === 4 + digestLength(algorithm);
}

/**
 * Checks `password` against a stored hash. bcrypt is deliberately slow (≈100 ms at cost 11 here): it runs
 * asynchronously (bcryptjs yields to the event loop between rounds, so other connections keep going) and
 * its verdicts are remembered briefly — see {@link BcryptCache}.
 */
export async function verifyPassword(
  password: string,
  hash: string,
  algorithm: HashingAlgorithm,
  cache?: BcryptCache,
): Promise<boolean> {
  if (algorithm === 'bcrypt') {
    if (cache === undefined) return bcrypt.compare(password, hash).catch(() => false);
    return cache.verify(password, hash);
  }
  return verifyRabbitHash(password, hash, algorithm);
}

/** Checks `password` against one of RabbitMQ's salted digests (synchronous: a digest is cheap). */
export function verifyRabbitHash(
  password: string,
  hash: string,
  algorithm: Exclude<HashingAlgorithm, 'bcrypt'>,
): boolean {
  const stored = Buffer.from(hash, 'base64');
  if (stored.length !== 4 + digestLength(algorithm)) return false;
  const salt = stored.subarray(0, 4);
  return timingSafeEqual(stored.subarray(4), rabbitDigest(algorithm, salt, password));
}

function rabbitDigest(
  algorithm: Exclude<HashingAlgorithm, 'bcrypt'>,
  salt: Buffer,
  password: string,
): Buffer {
  return createHash(RABBIT_DIGEST[algorithm]).update(salt).update(password, 'utf8').digest();
}

function digestLength(algorithm: Exclude<HashingAlgorithm, 'bcrypt'>): number {
  return {
    rabbit_password_hashing_sha256: 32,
    rabbit_password_hashing_sha512: 64,
    rabbit_password_hashing_md5: 16,
  }[algorithm];
}

/** Options of {@link BcryptCache}. */
export interface BcryptCacheOptions {
  /** How long a successful bcrypt verification is remembered, in milliseconds. @defaultValue 60000 */
  ttlMs?: number;
  /** Verdicts remembered at most (oldest dropped first). @defaultValue 1024 */
  maxEntries?: number;
}

export const BCRYPT_CACHE_DEFAULTS = { ttlMs: 60_000, maxEntries: 1024 } as const;

/**
 * Remembers successful bcrypt verifications for a short time. Why: after a broker restart or a network
 * blip every client reconnects at once, and each login costs one bcrypt (≈100 ms of CPU on one core);
 * a thousand clients would hold the event loop for minutes and miss heartbeats. With the cache only the
 * first login of each (user, password) pays.
 *
 * The key is a SHA-256 over (bcrypt hash, password) — never the password itself — compared by map
 * lookup of a digest, which reveals nothing useful about the password. Only successes are remembered
 * (a wrong password always pays the full bcrypt, so guessing gets no faster), and a changed stored hash
 * is a different key, so a password change takes effect at once.
 */
export class BcryptCache {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #ok = new Map<string, number>();

  constructor(options: BcryptCacheOptions = {}) {
    this.#ttlMs = options.ttlMs ?? BCRYPT_CACHE_DEFAULTS.ttlMs;
    this.#maxEntries = options.maxEntries ?? BCRYPT_CACHE_DEFAULTS.maxEntries;
  }

  /** Entries now held (for tests). */
  get size(): number {
    return this.#ok.size;
  }

  async verify(password: string, hash: string): Promise<boolean> {
    const key = createHash('sha256').update(hash).update('\0').update(password, 'utf8').digest('base64');
    const now = Date.now();
    const until = this.#ok.get(key);
    if (until !== undefined && until > now) return true;
    if (until !== undefined) this.#ok.delete(key);
    const ok = await bcrypt.compare(password, hash).catch(() => false);
    if (ok && this.#ttlMs > 0) {
      if (this.#ok.size >= this.#maxEntries) {
        const oldest = this.#ok.keys().next().value;
        if (oldest !== undefined) this.#ok.delete(oldest);
      }
      this.#ok.set(key, now + this.#ttlMs);
    }
    return ok;
  }
}
