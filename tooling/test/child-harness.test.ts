import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { forkChild } from '../src/child-harness.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/echo-server-child.ts', import.meta.url));

function echo(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
}

describe('forkChild / serveParent', () => {
  it('waits for the first message, answers commands, and stops gracefully (exit 0)', async () => {
    const forked = await forkChild<{ port: number }>(SCRIPT);
    try {
      expect(forked.ready.port).toBeGreaterThan(0);
      expect(await echo(forked.ready.port, 'hello')).toBe('hello');
      expect(await forked.request<{ count: number }>('count', 'count')).toEqual({ count: 1 });
      expect(await forked.request<{ error: string }>('crash', 'error')).toEqual({ error: 'asked to fail' });
      // A command without an answer: the next request sees its effect (IPC keeps the order).
      forked.send('reset');
      expect(await forked.request<{ count: number }>('count', 'count')).toEqual({ count: 0 });
      expect(forked.running()).toBe(true);
    } finally {
      await forked.stop();
    }
    expect(forked.running()).toBe(false);
    expect(forked.child.exitCode).toBe(0);
  });

  it('rejects with the child’s message and code when it cannot start', async () => {
    await expect(forkChild(SCRIPT, { env: { ...process.env, FAIL_START: '1' } })).rejects.toMatchObject({
      message: 'no port today',
      code: 'E_TEST_START',
    });
  });

  it('rejects when the child exits before it is ready', async () => {
    await expect(
      forkChild(fileURLToPath(new URL('./fixtures/exit-early-child.ts', import.meta.url))),
    ).rejects.toThrow(/exited with 1 before it was ready/);
  });

  it('kills with SIGKILL, and stop() after the exit returns at once', async () => {
    const forked = await forkChild<{ port: number }>(SCRIPT);
    await forked.kill();
    expect(forked.child.signalCode).toBe('SIGKILL');
    await forked.stop(1_000);
    expect(forked.running()).toBe(false);
  });

  it('stops on SIGTERM too (exit 0)', async () => {
    const forked = await forkChild<{ port: number }>(SCRIPT);
    forked.child.kill('SIGTERM');
    await forked.stop();
    expect(forked.child.exitCode).toBe(0);
  });
});
