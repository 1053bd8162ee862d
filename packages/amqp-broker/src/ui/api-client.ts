/**
 * The page's only door to the management API (RabbitMQ's JSON, HTTP Basic auth). Credentials live in this
 * object's closure and nowhere else: no cookie, no localStorage or sessionStorage, so a reload logs out and
 * nothing outlives the tab.
 */

/** An API answer other than 2xx, with RabbitMQ's `{error, reason}` body when there was one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly reason: string,
  ) {
    super(reason ? `${error}: ${reason}` : error);
    this.name = 'ApiError';
  }
}

/** Username and password as typed in the login form. */
export interface Credentials {
  username: string;
  password: string;
}

/** Percent-encodes one path segment the way the management API expects (`/` → `%2F`, so `/` is a vhost). */
export function seg(value: string): string {
  return encodeURIComponent(value);
}

function basicAuth({ username, password }: Credentials): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

async function toApiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: unknown; reason?: unknown };
    const error = typeof body.error === 'string' ? body.error : res.statusText || `HTTP ${res.status}`;
    const reason = typeof body.reason === 'string' ? body.reason : JSON.stringify(body.reason ?? '');
    return new ApiError(res.status, error, reason === '""' ? '' : reason);
  } catch {
    return new ApiError(res.status, res.statusText || `HTTP ${res.status}`, text.slice(0, 200));
  }
}

/** A client bound to one login; `onUnauthorized` runs when a call's 401 asks for credentials (the page then logs out). */
export class ApiClient {
  readonly #auth: string;
  readonly #onUnauthorized: () => void;
  readonly username: string;

  constructor(credentials: Credentials, onUnauthorized: () => void) {
    this.#auth = basicAuth(credentials);
    this.#onUnauthorized = onUnauthorized;
    this.username = credentials.username;
  }

  /** Sends one request below `api/` (relative, so the page works under any mount point). */
  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const init: RequestInit = {
      method,
      headers: {
        authorization: this.#auth,
        // Not `application/json` alone: RabbitMQ answers 406 to that on bodiless resources (queue contents).
        accept: 'application/json, */*;q=0.5',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      // Never let the browser attach or remember anything of its own.
      credentials: 'omit',
      cache: 'no-store',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    };
    const res = await fetch(`api/${path}`, init);
    // A 401 asking for credentials (`www-authenticate`) means the login no longer works: the page logs out.
    // One without it is RabbitMQ refusing this user one object (a vhost, another user's connection).
    if (res.status === 401 && res.headers.has('www-authenticate')) {
      const err = await toApiError(res);
      this.#onUnauthorized();
      throw err;
    }
    if (!res.ok) throw await toApiError(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, undefined, signal);
  }
}

/** What the login form shows for a failed call. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return `${err.status} ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
