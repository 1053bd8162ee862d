import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { AttemptSignal, abortReason } from './attempt-signal.js';

describe('AttemptSignal', () => {
  it('aborts once: listeners run once and the first reason stays', () => {
    const signal = new AttemptSignal();
    let calls = 0;
    signal.once('abort', () => calls++);
    signal.abort(new Error('first'));
    signal.abort(new Error('second'));
    expect(signal.aborted).toBe(true);
    expect(calls).toBe(1);
    expect(abortReason(signal).message).toBe('first');
    const plain = new AttemptSignal();
    plain.abort('why');
    expect(abortReason(plain).message).toBe('why');
  });

  it('cuts an undici request in flight short with its reason (undici takes it as its signal)', async () => {
    const server = createServer(() => {
      // Never answers: only the abort can end the request.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const signal = new AttemptSignal();
      const pending = request(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'x', signal });
      setImmediate(() => signal.abort(new Error('cut short')));
      await expect(pending).rejects.toThrow('cut short');
      expect(signal.listenerCount('abort')).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
