import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { reapOrphanedServices } from '../src/service-state-dir.js';
import { eventually, isPortFree, isRunning, pathExists } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/start-services.ts', import.meta.url));

interface Started {
  child: ChildProcess;
  pids: number[];
  dirs: string[];
  ports: number[];
  exit: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Runs the fixture in a separate Node process (via tsx) and waits for it to report its services. */
async function startChild(mode: string): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  for await (const line of lines) {
    const report = JSON.parse(line) as Omit<Started, 'child' | 'exit'>;
    return { child, exit, ...report };
  }
  throw new Error(`fixture exited without reporting its services: ${stderr}`);
}

async function expectAllGone(started: Started): Promise<void> {
  // The orphaned service is reparented when the fixture dies, so give the kernel a moment.
  expect(await eventually(() => started.pids.every((pid) => !isRunning(pid)))).toBe(true);
  for (const dir of started.dirs) expect(await pathExists(dir)).toBe(false);
  // Eventually: the kernel may release the listening socket a moment after the process is gone.
  for (const port of started.ports) expect(await eventually(() => isPortFree(port))).toBe(true);
}

describe('services do not outlive the test process', () => {
  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)(
    'killed by %s: the services die with it',
    async (signal) => {
      const started = await startChild('signal');
      expect(started.pids.every(isRunning)).toBe(true);
      started.child.kill(signal);
      // With no other listener, the registry re-raises the signal so the default action still applies.
      expect(await started.exit).toEqual([null, signal]);
      await expectAllGone(started);
    },
  );

  it('crashed by an uncaught exception: the services die with it', async () => {
    const started = await startChild('throw');
    expect((await started.exit)[0]).toBe(1);
    await expectAllGone(started);
  });

  it('process.exit(): the services die with it', async () => {
    const started = await startChild('exit');
    expect((await started.exit)[0]).toBe(3);
    await expectAllGone(started);
  });

  it('forgot to stop(): the process still exits on its own and the services die with it', async () => {
    const started = await startChild('return');
    expect(await started.exit).toEqual([0, null]);
    await expectAllGone(started);
  });

  it('killed with SIGKILL (no hooks run): the next run reaps the orphans', async () => {
    const started = await startChild('sigkill');
    started.child.kill('SIGKILL');
    await started.exit;
    // Nothing could clean up: the services are still running.
    expect(started.pids.every(isRunning)).toBe(true);
    await reapOrphanedServices();
    await expectAllGone(started);
  });
});
