import { ApiClient, ApiError, type Credentials, describeError } from '../api-client.ts';
import type { Whoami } from '../api-types.ts';
import { ErrorBox } from '../components/error-box.tsx';
import { readForm } from '../components/form-data.ts';
import { useAction } from '../components/use-action.ts';
import { isManagementUser, MANAGEMENT_TAGS } from '../components/user-capabilities.ts';

function notAuthorised(user: string): string {
  return `Not authorised: user ${user} may not use the admin page. It needs one of the tags ${MANAGEMENT_TAGS.join(', ')}.`;
}

/**
 * The login form. The credentials are checked with `GET /api/whoami` and then kept only inside the
 * {@link ApiClient} handed to `onLogin` (in memory; nothing is stored in the browser).
 */
export function LoginView({
  onLogin,
  onUnauthorized,
  message,
}: {
  onLogin: (api: ApiClient, whoami: Whoami) => void;
  onUnauthorized: () => void;
  message: string | undefined;
}) {
  const action = useAction();
  const onSubmit = (event: Event) => {
    const { get } = readForm(event);
    void action.run(async () => {
      const credentials: Credentials = { username: get('username'), password: get('password') };
      if (!credentials.username) throw new Error('Username: required');
      // 401 here is a failed login, not a lost session: the client's logout hook stays quiet until it is in.
      let loggedIn = false;
      const api = new ApiClient(credentials, () => {
        if (loggedIn) onUnauthorized();
      });
      let whoami: Whoami;
      try {
        whoami = await api.get<Whoami>('whoami');
      } catch (err) {
        // The password was right but the user has no management tag: say so, rather than "login failed".
        if (err instanceof ApiError && err.status === 401 && /not management user/i.test(err.reason)) {
          throw new Error(notAuthorised(credentials.username));
        }
        throw new Error(`Login failed: ${describeError(err)}`);
      }
      if (!isManagementUser(whoami)) throw new Error(notAuthorised(whoami.name));
      loggedIn = true;
      onLogin(api, whoami);
      return '';
    });
  };
  return (
    <main class="login" id="main">
      <h1>dispatchd admin</h1>
      <p class="muted">Log in with a broker user that has a management tag.</p>
      <ErrorBox message={message} />
      <form class="form" onSubmit={onSubmit} aria-label="Log in">
        <label for="login-username">Username</label>
        <input id="login-username" name="username" autocomplete="username" required autofocus />
        <label for="login-password">Password</label>
        <input id="login-password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit" disabled={action.busy}>
          Log in
        </button>
      </form>
      <ErrorBox message={action.error} />
    </main>
  );
}
