/**
 * The cancel handle of one delivery attempt: shutdown and the attempt's own timeout abort it, and undici
 * (which takes an EventEmitter as `signal`) and the delivery threads listen to it.
 *
 * An AbortController per attempt built an EventTarget, an AbortSignal and a listener record for every
 * delivery: a profile of the proxy draining a backlog put them at about 7 % of the main thread's busy
 * time. An EventEmitter with two fields does the same job for a fraction of that.
 */
import { EventEmitter } from 'node:events';

export class AttemptSignal extends EventEmitter<{ abort: [] }> {
  aborted = false;
  reason: unknown = undefined;

  /** Aborts once: later calls keep the first reason. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

/** The abort's reason as an Error (the reason given, or one that names it). */
export function abortReason(signal: AttemptSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));
}
