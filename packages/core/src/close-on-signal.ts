/**
 * The apps' shutdown wiring (config -> logger -> services -> start -> signals -> close): on the first SIGTERM
 * or SIGINT, log it, close gracefully and exit 0 once closed, or 1 if the close failed. A second signal
 * while closing is ignored, so a double Ctrl-C does not cut the drain short.
 */
import type { Logger } from './logger.js';

/** The part of `process` the wiring uses; tests pass a fake. */
export interface SignalProcess {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  exit(code: number): void;
}

export interface CloseOnSignalOptions {
  /** Closes everything the process runs, in order. */
  close: () => Promise<void>;
  logger: Logger;
  /** @defaultValue `['SIGTERM', 'SIGINT']` */
  signals?: readonly NodeJS.Signals[];
  /** @defaultValue `process` */
  process?: SignalProcess;
}

const CLOSE_ON_SIGNAL_DEFAULTS = { signals: ['SIGTERM', 'SIGINT'] } as const;

/** Wires `close` to the termination signals; see the file header for what a signal does. */
export function closeOnSignal(options: CloseOnSignalOptions): void {
  const { close, logger } = options;
  const target = options.process ?? process;
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    close().then(
      () => {
        logger.info('closed');
        target.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        target.exit(1);
      },
    );
  };
  for (const signal of options.signals ?? CLOSE_ON_SIGNAL_DEFAULTS.signals) target.on(signal, shutdown);
}
