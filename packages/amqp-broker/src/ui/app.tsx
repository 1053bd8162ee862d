import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ApiClient } from './api-client.ts';
import { tagList, type Whoami } from './api-types.ts';
import { ApiContext } from './components/api-context.ts';
import { type Capabilities, CapabilitiesContext, capabilitiesOf } from './components/user-capabilities.ts';
import { type Route, useRoute } from './router.ts';
import { AccessView } from './views/access-view.tsx';
import { BindingsView } from './views/bindings-view.tsx';
import { ChannelsView } from './views/channels-view.tsx';
import { ConnectionsView } from './views/connections-view.tsx';
import { ExchangesView } from './views/exchanges-view.tsx';
import { LoginView } from './views/login-view.tsx';
import { OverviewView } from './views/overview-view.tsx';
import { QueueView } from './views/queue-view.tsx';
import { QueuesView } from './views/queues-view.tsx';

const NAV = [
  ['overview', 'Overview'],
  ['connections', 'Connections'],
  ['channels', 'Channels'],
  ['exchanges', 'Exchanges'],
  ['queues', 'Queues'],
  ['bindings', 'Bindings'],
  ['access', 'Users & vhosts'],
] as const;

/** Sections a user without the tag would only see refused: not offered (RabbitMQ's page does the same). */
function offered(view: string, can: Capabilities): boolean {
  return view !== 'access' || can.administrator;
}

function View({ route, can }: { route: Route; can: Capabilities }) {
  if (!offered(route.view, can)) {
    return (
      <p class="error" role="alert">
        Not authorised: this section is for users tagged administrator.
      </p>
    );
  }
  switch (route.view) {
    case 'connections':
      return <ConnectionsView />;
    case 'channels':
      return <ChannelsView />;
    case 'exchanges':
      return <ExchangesView />;
    case 'queues': {
      const [vhost, name] = route.params;
      return vhost !== undefined && name !== undefined ? (
        <QueueView key={`${vhost}/${name}`} vhost={vhost} name={name} />
      ) : (
        <QueuesView />
      );
    }
    case 'bindings':
      return <BindingsView />;
    case 'access':
      return <AccessView />;
    default:
      return <OverviewView />;
  }
}

interface Session {
  api: ApiClient;
  whoami: Whoami;
  can: Capabilities;
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [message, setMessage] = useState<string | undefined>(undefined);
  const route = useRoute();
  const main = useRef<HTMLElement>(null);

  const onUnauthorized = useCallback(() => {
    setSession(null);
    setMessage('The broker no longer accepts these credentials (401): log in again.');
  }, []);
  const logout = () => {
    setSession(null);
    setMessage('Logged out.');
  };

  // Moving to another view puts keyboard focus on its content, as a page load would.
  useEffect(() => {
    main.current?.focus({ preventScroll: true });
  }, [route.view, route.params.join('/')]);

  if (!session) {
    return (
      <LoginView
        message={message}
        onUnauthorized={onUnauthorized}
        onLogin={(api, whoami) => {
          setMessage(undefined);
          setSession({ api, whoami, can: capabilitiesOf(whoami) });
        }}
      />
    );
  }
  return (
    <ApiContext.Provider value={session.api}>
      <CapabilitiesContext.Provider value={session.can}>
        <button type="button" class="skip" onClick={() => main.current?.focus()}>
          Skip to content
        </button>
        <header class="top">
          <span class="brand">dispatchd admin</span>
          <nav aria-label="Sections">
            <ul>
              {NAV.filter(([view]) => offered(view, session.can)).map(([view, label]) => (
                <li key={view}>
                  <a href={`#/${view}`} aria-current={route.view === view ? 'page' : undefined}>
                    {label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <span class="who">
            {session.whoami.name}
            <span class="muted"> ({tagList(session.whoami.tags).join(', ') || 'no tags'})</span>
            <button type="button" class="secondary" onClick={logout}>
              Log out
            </button>
          </span>
        </header>
        <main id="main" ref={main} tabIndex={-1}>
          <View route={route} can={session.can} />
        </main>
      </CapabilitiesContext.Provider>
    </ApiContext.Provider>
  );
}
