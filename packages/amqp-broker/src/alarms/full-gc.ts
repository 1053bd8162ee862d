import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/**
 * Runs a full (mark-compact) garbage collection.
 *
 * Message bodies are Buffers: their memory is released only when a full collection finds them
 * unreachable, and V8 starts one when its heap or external memory grows — never because memory became
 * garbage. A broker that has just deleted (or drained) a large queue and then goes quiet would keep every
 * body of it until the next burst of traffic; the memory monitor calls this once a large amount of message
 * bytes has been let go. `global.gc` is used when the process runs with `--expose-gc`; otherwise the
 * function is obtained once through V8's flag (then switched off again, so no other code sees a `gc`
 * global).
 */
export function fullGc(): void {
  if (gc === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') gc = exposed;
    else {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
      setFlagsFromString('--no-expose-gc');
    }
  }
  gc();
}
