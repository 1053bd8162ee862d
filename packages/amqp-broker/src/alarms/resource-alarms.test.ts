import { describe, expect, it } from 'vitest';
import { ResourceAlarms } from './resource-alarms.js';

describe('ResourceAlarms', () => {
  it('blocks while any alarm is set, tells listeners on the edges only, and words the reason as RabbitMQ', () => {
    const alarms = new ResourceAlarms();
    const changes: boolean[] = [];
    const stop = alarms.onChange((blocking) => changes.push(blocking));
    expect(alarms.blocking).toBe(false);
    expect(alarms.update('disk', true)).toBe(true);
    expect(alarms.reason).toBe('low on disk');
    expect(alarms.update('disk', true)).toBe(false);
    alarms.update('memory', true);
    expect(alarms.reason).toBe('low on memory & disk');
    alarms.update('disk', false);
    expect([alarms.blocking, alarms.reason, alarms.isSet('disk')]).toEqual([true, 'low on memory', false]);
    alarms.update('memory', false);
    expect(changes).toEqual([true, false]);
    stop();
    alarms.update('memory', true);
    expect(changes).toEqual([true, false]);
  });
});
