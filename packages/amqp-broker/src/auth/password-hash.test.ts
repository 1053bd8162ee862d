import { describe, expect, it } from 'vitest';
import { BcryptCache, hashPassword, isValidHash, verifyPassword } from './password-hash.js';

/** `rabbitmqctl add_user probeu probepw` on RabbitMQ 3.10, as `export_definitions` printed it. */
const RABBIT_SHA256 = 'SnVhvzZUHNUPQ9Afn7+jw7zZ58SOmpw57IzNami/VxaXNudt';

describe('password hashes', () => {
  it("verifies RabbitMQ's salted sha256 and refuses other passwords", async () => {
    expect(await verifyPassword('probepw', RABBIT_SHA256, 'rabbit_password_hashing_sha256')).toBe(true);
    expect(await verifyPassword('probepW', RABBIT_SHA256, 'rabbit_password_hashing_sha256')).toBe(false);
    // The right digest under the wrong algorithm is refused (length differs), not thrown.
    expect(await verifyPassword('probepw', RABBIT_SHA256, 'rabbit_password_hashing_sha512')).toBe(false);
  });

  it('round-trips every algorithm with a fresh salt each time', async () => {
    for (const algorithm of [
      'rabbit_password_hashing_sha256',
      'rabbit_password_hashing_sha512',
      'rabbit_password_hashing_md5',
    ] as const) {
      const a = hashPassword('pässword', algorithm);
      const b = hashPassword('pässword', algorithm);
      expect(a).not.toBe(b);
      expect(isValidHash(a, algorithm)).toBe(true);
      expect(await verifyPassword('pässword', a, algorithm)).toBe(true);
      expect(await verifyPassword('password', a, algorithm)).toBe(false);
    }
  });

  it('tells well-formed hashes from typos', () => {
    expect(isValidHash(RABBIT_SHA256, 'rabbit_password_hashing_sha256')).toBe(true);
    expect(isValidHash(RABBIT_SHA256.slice(1), 'rabbit_password_hashing_sha256')).toBe(false);
    expect(isValidHash('$2a$11$Chli8tnkcDFzbaN8lWmqGuM6qYgVjO53Almlkr0tX7tdPs.b1yIKy', 'bcrypt')).toBe(true);
    expect(isValidHash('$2a$11$short', 'bcrypt')).toBe(false);
  });

  it('the bcrypt cache remembers successes only, keyed by hash and password', async () => {
    const hash = hashPassword('pw', 'bcrypt');
    const cache = new BcryptCache({ ttlMs: 60_000, maxEntries: 2 });
    expect(await verifyPassword('wrong', hash, 'bcrypt', cache)).toBe(false);
    expect(cache.size).toBe(0);
    expect(await verifyPassword('pw', hash, 'bcrypt', cache)).toBe(true);
    expect(cache.size).toBe(1);
    expect(await verifyPassword('pw', hash, 'bcrypt', cache)).toBe(true);
    expect(cache.size).toBe(1);
    // A new hash for the same password is another key.
    expect(await verifyPassword('pw', hashPassword('other', 'bcrypt'), 'bcrypt', cache)).toBe(false);
    expect(await verifyPassword('pw', 'not a bcrypt hash', 'bcrypt', cache)).toBe(false);
  });
});
