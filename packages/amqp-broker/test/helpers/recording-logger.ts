/**
 * A Logger that records what it is given (every child shares the record), for tests that check log lines.
 */
import type { Logger } from '@dispatcher/core';

export interface LogEntry {
  readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  readonly fields: Record<string, unknown>;
  readonly msg: string | undefined;
}

export function recordingLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (first: object | string, msg?: unknown): void => {
      if (typeof first === 'string') entries.push({ level, fields: {}, msg: first });
      else entries.push({ level, fields: first as Record<string, unknown>, msg: msg as string | undefined });
    };
  const logger: Logger = {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: () => logger,
  };
  return { logger, entries };
}
