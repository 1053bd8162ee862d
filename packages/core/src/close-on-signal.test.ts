import { EventEmitter } from 'node:events';
import { eventually, recordingLogger } from '@dispatcher/tooling';
import { describe, expect, it } from 'vitest';
import { closeOnSignal } from './close-on-signal.js';

/** A stand-in for `process`: signals are emitted by the test, exit codes recorded. */
function fakeProcess() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  return {
    emitter,
    exits,
    process: {
      on: (signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void) =>
        emitter.on(signal, listener),
      exit: (code: number) => void exits.push(code),
    },
  };
}

describe('closeOnSignal', () => {
  it('closes once on the first signal, ignores the next, logs and exits 0', async () => {
    const fake = fakeProcess();
    const { logger, entries } = recordingLogger();
    let release!: () => void;
    let closes = 0;
    const close = () => {
      closes++;
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    };
    closeOnSignal({ close, logger, process: fake.process });
    fake.emitter.emit('SIGINT', 'SIGINT');
    fake.emitter.emit('SIGTERM', 'SIGTERM');
    expect(closes).toBe(1);
    expect(fake.exits).toEqual([]);
    release();
    await eventually(() => fake.exits.length > 0);
    expect(fake.exits).toEqual([0]);
    expect(entries.map((e) => [e.level, e.msg, e.fields])).toEqual([
      ['info', 'shutting down', { signal: 'SIGINT' }],
      ['info', 'closed', {}],
    ]);
  });

  it('exits 1 and logs the error when the close fails', async () => {
    const fake = fakeProcess();
    const { logger, entries } = recordingLogger();
    const failure = new Error('store flush failed');
    closeOnSignal({ close: () => Promise.reject(failure), logger, process: fake.process });
    fake.emitter.emit('SIGTERM', 'SIGTERM');
    await eventually(() => fake.exits.length > 0);
    expect(fake.exits).toEqual([1]);
    expect(entries.at(-1)).toEqual({ level: 'error', fields: { err: failure }, msg: 'shutdown failed' });
  });

  it('listens only to the signals it is given', () => {
    const fake = fakeProcess();
    closeOnSignal({
      close: async () => {},
      logger: recordingLogger().logger,
      process: fake.process,
      signals: ['SIGHUP'],
    });
    expect(fake.emitter.eventNames()).toEqual(['SIGHUP']);
  });
});
