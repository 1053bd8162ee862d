import { describe, expect, it } from 'vitest';
import { CappedMap } from './capped-map.js';

describe('CappedMap', () => {
  it('evicts the oldest key when a 4th key passes a cap of 3', () => {
    const evicted: Array<[string, number]> = [];
    const map = new CappedMap<string, number>(3, (k, v) => evicted.push([k, v]));
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);
    expect(evicted).toEqual([]);
    map.set('d', 4);
    expect(evicted).toEqual([['a', 1]]);
    expect(map.has('a')).toBe(false);
    expect([...map.entries()]).toEqual([
      ['b', 2],
      ['c', 3],
      ['d', 4],
    ]);
  });

  it('makes a key set again the newest, and does not report replaced or deleted entries', () => {
    const evicted: string[] = [];
    const map = new CappedMap<string, number>(2, (k) => evicted.push(k));
    map.set('a', 1);
    map.set('b', 2);
    map.set('a', 3); // replaced: now newest
    map.set('c', 4);
    expect(evicted).toEqual(['b']);
    expect(map.get('a')).toBe(3);
    map.delete('a');
    map.set('d', 5);
    expect(evicted).toEqual(['b']);
    expect(map.size).toBe(2);
  });

  it('refuses a cap below 1', () => {
    expect(() => new CappedMap(0)).toThrow(RangeError);
  });
});
