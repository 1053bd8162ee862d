import { describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { TopicPermissionStore } from './topic-permission-store.js';

describe('TopicPermissionStore', () => {
  const store = () =>
    new TopicPermissionStore([
      { user: 'u', vhost: '/', exchange: 'amq.topic', write: '^{username}\\.{vhost}', read: '' },
    ]);

  it('limits only the exchange with an entry; expands {username} and {vhost}; matches unanchored', () => {
    const s = store();
    expect(s.allows('u', '/', 'amq.topic', 'write', 'u./.x')).toBe(true);
    expect(s.allows('u', '/', 'amq.topic', 'write', 'v./.x')).toBe(false);
    expect(s.allows('u', '/', 'other', 'write', 'anything')).toBe(true);
    expect(s.allows('someone', '/', 'amq.topic', 'write', 'anything')).toBe(true);
    s.put({ user: 'u', vhost: '/', exchange: 'x', write: 'b', read: '.*' });
    expect(s.allows('u', '/', 'x', 'write', 'abc')).toBe(true);
  });

  it("an empty expression allows only the empty routing key (RabbitMQ's ^$)", () => {
    const s = store();
    expect(s.allows('u', '/', 'amq.topic', 'read', '')).toBe(true);
    expect(s.allows('u', '/', 'amq.topic', 'read', 'a')).toBe(false);
  });

  it('refuses an invalid expression; deletes per user, vhost and exchange; bumps the version', () => {
    const s = store();
    expect(() => s.put({ user: 'u', vhost: '/', exchange: 'x', write: '(', read: '' })).toThrow(BrokerError);
    const v = s.version;
    s.put({ user: 'u', vhost: 'v2', exchange: 'x', write: '', read: '' });
    expect(s.version).toBeGreaterThan(v);
    expect(s.delete('u', '/', 'nope')).toBe(false);
    s.deleteVhost('v2');
    expect(s.list().map((p) => p.vhost)).toEqual(['/']);
    s.deleteUser('u');
    expect(s.isEmpty).toBe(true);
    expect(s.delete('u', '/')).toBe(false);
  });
});
