import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ApiClient } from '../api-client.ts';

/** The logged-in client; views below the login form read it with {@link useApi}. */
export const ApiContext = createContext<ApiClient | null>(null);

export function useApi(): ApiClient {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside a logged-in page');
  return api;
}
