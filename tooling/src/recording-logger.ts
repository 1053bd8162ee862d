/** A log call as a pino-compatible logger receives it: `(fields, msg?)` or `(msg)`. */
export interface RecordingLogFn {
  (fields: object, msg?: string, ...args: unknown[]): void;
  (msg: string, ...args: unknown[]): void;
}

/** The pino-compatible shape of `@dispatcher/core`'s `Logger` (tooling does not depend on core). */
export interface RecordingLogger {
  trace: RecordingLogFn;
  debug: RecordingLogFn;
  info: RecordingLogFn;
  warn: RecordingLogFn;
  error: RecordingLogFn;
  fatal: RecordingLogFn;
  child(bindings: Record<string, unknown>): RecordingLogger;
}

/** One recorded log line: its level, its fields (the child bindings merged under them) and its message. */
export interface LogEntry {
  readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  readonly fields: Record<string, unknown>;
  readonly msg: string | undefined;
}

/**
 * A logger for tests that check log lines: every line of the logger and of its children lands in one
 * `entries` array, with the children's bindings merged into its fields as pino would print them.
 */
export function recordingLogger(): { logger: RecordingLogger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const make = (bindings: Record<string, unknown>): RecordingLogger => {
    const at =
      (level: LogEntry['level']): RecordingLogFn =>
      (first: object | string, msg?: unknown): void => {
        if (typeof first === 'string') entries.push({ level, fields: { ...bindings }, msg: first });
        else entries.push({ level, fields: { ...bindings, ...first }, msg: msg as string | undefined });
      };
    return {
      trace: at('trace'),
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      fatal: at('fatal'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return { logger: make({}), entries };
}
