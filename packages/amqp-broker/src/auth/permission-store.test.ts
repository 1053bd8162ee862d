import { describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { PermissionStore } from './permission-store.js';
import { ResourceAccess } from './resource-access.js';

describe('PermissionStore', () => {
  const store = new PermissionStore([{ user: 'u', vhost: '/', configure: '', write: 'w-', read: '^r-.*$' }]);

  it("matches RabbitMQ's way: unanchored, empty matches nothing, vhost access needs an entry", () => {
    expect(store.allows('u', '/', 'write', 'w-q')).toBe(true);
    expect(store.allows('u', '/', 'write', 'xw-q')).toBe(true);
    expect(store.allows('u', '/', 'read', 'xr-q')).toBe(false);
    expect(store.allows('u', '/', 'configure', '')).toBe(false);
    expect(store.allows('u', '/', 'configure', 'anything')).toBe(false);
    expect(store.allows('u', 'other', 'write', 'w-q')).toBe(false);
    expect(store.canAccessVhost('u', '/')).toBe(true);
    expect(store.canAccessVhost('u', 'other')).toBe(false);
  });

  it('refuses an expression that does not compile', () => {
    const err = (() => {
      try {
        store.put({ user: 'u', vhost: '/', configure: '(', write: '', read: '' });
      } catch (e) {
        return e;
      }
    })();
    expect(BrokerError.isInstance(err) && err.code).toBe('DSP_BROKER_INVALID_ARGUMENT');
    expect(store.get('u', '/')?.configure).toBe('');
  });

  it('ResourceAccess checks the default exchange as amq.default and sees changes at once', () => {
    const s = new PermissionStore([
      { user: 'u', vhost: '/', configure: '', write: '^amq\\.default$', read: '' },
    ]);
    const access = new ResourceAccess(s, 'u', '/');
    expect(() => access.check('write', 'exchange', '')).not.toThrow();
    expect(() => access.check('write', 'exchange', 'amq.direct')).toThrow(
      "access to exchange 'amq.direct' in vhost '/' refused for user 'u'",
    );
    s.put({ user: 'u', vhost: '/', configure: '', write: '', read: '' });
    expect(() => access.check('write', 'exchange', '')).toThrow(
      "access to exchange 'amq.default' in vhost '/' refused for user 'u'",
    );
    s.deleteVhost('/');
    expect(s.list()).toEqual([]);
  });
});
