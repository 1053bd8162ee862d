import { describe, expect, it } from 'vitest';
import { getFreePort } from '../src/free-port.js';
import { isPortFree } from './helpers.js';

describe('getFreePort', () => {
  it('returns a bindable, non-privileged port', async () => {
    const port = await getFreePort();
    expect(port).toBeGreaterThan(1023);
    expect(port).toBeLessThan(65536);
    expect(await isPortFree(port)).toBe(true);
  });
});
