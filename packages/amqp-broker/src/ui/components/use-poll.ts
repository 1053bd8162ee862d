import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { describeError } from '../api-client.ts';

/** How often views refresh: RabbitMQ's statistics change every 5 s, so faster polling shows nothing new. */
export const POLL_INTERVAL_MS = 5_000;

export interface Poll<T> {
  data: T | undefined;
  error: string | undefined;
  /** Loads again now (after an action), then keeps the usual rhythm. */
  refresh: () => void;
}

/**
 * Calls `load` now and every `intervalMs` while the view is mounted. A slow answer never overlaps the
 * next call (the timer starts when a call ends); unmounting aborts the call in flight.
 */
export function usePoll<T>(
  load: (signal: AbortSignal) => Promise<T>,
  key: string,
  intervalMs = POLL_INTERVAL_MS,
): Poll<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async (): Promise<void> => {
      try {
        const value = await loadRef.current(abort.signal);
        if (abort.signal.aborted) return;
        setData(value);
        setError(undefined);
      } catch (err) {
        if (abort.signal.aborted) return;
        setError(describeError(err));
      }
      if (!abort.signal.aborted) timer = setTimeout(() => void run(), intervalMs);
    };
    void run();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [key, tick, intervalMs]);

  const refresh = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, refresh };
}
