import type { Logger } from '@dispatcher/core';

/** Identifies the task an event is about. */
export interface TaskEventBase {
  readonly worker: string;
  readonly queue: string;
  readonly uuid: string;
  readonly name: string;
  /** The attempt this run is (1 for the first). */
  readonly attempt: number;
}

/**
 * Every event the server emits, with its payload. `error` gathers every problem (with the component that
 * saw it); none of them is thrown at the process, with or without listeners.
 */
export interface TasksEventMap {
  error: { readonly error: Error; readonly component: string; readonly details?: Record<string, unknown> };
  connected: { readonly generation: number };
  disconnected: { readonly generation: number; readonly error?: Error };
  'task:started': TaskEventBase;
  'task:succeeded': TaskEventBase & { readonly durationMs: number };
  'task:failed': TaskEventBase & { readonly durationMs: number; readonly error: Error };
  'task:retried': TaskEventBase & { readonly delayMs: number; readonly error: Error };
  'task:dead-lettered': TaskEventBase & { readonly reason: DeadLetterReason; readonly error: Error };
  /** A settle (ack/nack) for a delivery of a channel that is gone was dropped, never sent on a new one. */
  'ack:dropped': { readonly worker: string; readonly uuid: string };
}

/** Why a task went to the dead-letter queue. */
export type DeadLetterReason = 'failed' | 'decode' | 'validation' | 'unknown-task';

export type TasksEventName = keyof TasksEventMap;
export type TasksEventListener<E extends TasksEventName> = (event: TasksEventMap[E]) => void;

/**
 * A small typed emitter. Unlike `EventEmitter`, an `error` event without listeners is not thrown, and a
 * listener that throws is logged instead of breaking the code that emitted.
 */
export class TasksEvents {
  readonly #listeners = new Map<TasksEventName, Set<(event: never) => void>>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Subscribes; returns the function that unsubscribes. */
  on<E extends TasksEventName>(event: E, listener: TasksEventListener<E>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (event: never) => void);
    return () => this.off(event, listener);
  }

  off<E extends TasksEventName>(event: E, listener: TasksEventListener<E>): void {
    this.#listeners.get(event)?.delete(listener as (event: never) => void);
  }

  /** True when `event` has listeners (callers skip building a payload nobody reads). */
  has(event: TasksEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends TasksEventName>(event: E, payload: TasksEventMap[E]): void {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return;
    if (set.size === 1) {
      // The common case without copying the set (a listener it adds now is not called for this event).
      this.#call(event, set.values().next().value as TasksEventListener<E>, payload);
      return;
    }
    for (const listener of [...set]) this.#call(event, listener as TasksEventListener<E>, payload);
  }

  #call<E extends TasksEventName>(
    event: E,
    listener: TasksEventListener<E>,
    payload: TasksEventMap[E],
  ): void {
    try {
      listener(payload);
    } catch (err) {
      this.#log.error({ err, event }, 'event listener threw');
    }
  }
}

/** The narrow view of the server that components report through. */
export interface Reporter {
  readonly log: Logger;
  readonly events: TasksEvents;
  /** Logs and emits `error` with the component that saw it. */
  problem(component: string, error: unknown, details?: Record<string, unknown>): void;
}

/**
 * Builds a {@link Reporter} over a logger and an emitter. Problems are logged on `problemLog` with their own
 * `component` field, so it must be a logger without a `component` binding (pino would write the key twice).
 */
export function createReporter(log: Logger, events: TasksEvents, problemLog: Logger = log): Reporter {
  return {
    log,
    events,
    problem(component, error, details) {
      const err = error instanceof Error ? error : new Error(String(error));
      problemLog.error({ err, component, ...details }, `${component}: ${err.message}`);
      events.emit('error', { error: err, component, ...(details ? { details } : {}) });
    },
  };
}
