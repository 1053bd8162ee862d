import { useState } from 'preact/hooks';
import { describeError } from '../api-client.ts';

export interface Action {
  busy: boolean;
  error: string | undefined;
  notice: string | undefined;
  /** Runs `work`; its resolved string becomes the notice, a throw becomes the error. */
  run: (work: () => Promise<string>) => Promise<void>;
}

/** State of one form's or button's API call: busy while it runs, then a notice or an error to show. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const run = async (work: () => Promise<string>): Promise<void> => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    try {
      setNotice(await work());
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, notice, run };
}
