import { render, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import { ApiError, call, SESSION_EXPIRED, type Me } from './api.js';
import { completeSignIn, currentSession, signIn, signOut, SIGNED_OUT_PATH } from './auth.js';
import { ROLE_NAMES } from './labels.js';
import { Activity } from './pages/activity.js';
import { KeyPage } from './pages/key-page.js';
import { StaffDetail, StaffList } from './pages/staff.js';
import { SystemIntegrations } from './pages/system-integrations.js';
import { Webhooks } from './pages/webhooks.js';
import { ACTIVITY, SI_PATH, WEBHOOKS } from './paths.js';

const HOME = '/console/';
const STAFF = '/console/staff';
const SETTINGS = '/console/settings';
/** A key's own page: `${SI_PATH}/keys/{id}`. */
const KEY_PAGE = /^\/console\/settings\/system-integrations\/keys\/([\w-]+)$/;

type Navigate = (to: string) => void;

function Link(props: { to: string; navigate: Navigate; current?: boolean; children: string }) {
  return (
    <a href={props.to} aria-current={props.current ? 'page' : undefined} onClick={(event) => (event.preventDefault(), props.navigate(props.to))}>
      {props.children}
    </a>
  );
}

function NoPermission() {
  return <p class="notice">You do not have the System Integrations permission. An Owner can grant it on the Staff Access tab.</p>;
}

function Home(props: { me: Me; navigate: Navigate }) {
  const { me } = props;
  return (
    <section aria-labelledby="home-title">
      <h1 id="home-title" tabIndex={-1}>
        Welcome, {me.name}
      </h1>
      <p>
        This is the Octiv console of <strong>{me.facilityName}</strong>, where you decide which staff may manage integrations and which outside systems (a CRM, a
        landing page) may send leads to your facility with an API key. You are signed in as {ROLE_NAMES[me.role]}.
      </p>
      <ul class="tiles">
        {me.role !== 'trainer' && (
          <li>
            <Link to={STAFF} navigate={props.navigate}>
              Staff
            </Link>
            <span class="muted block">Your team, and who has the System Integrations permission.</span>
          </li>
        )}
        {me.permissions.systemIntegrations && (
          <li>
            <Link to={SI_PATH} navigate={props.navigate}>
              System Integrations
            </Link>
            <span class="muted block">Create, rotate and delete API keys, and see how to connect a system.</span>
          </li>
        )}
      </ul>
      {me.role === 'trainer' && !me.permissions.systemIntegrations && <p class="muted">There is nothing to manage here for your role.</p>}
    </section>
  );
}

function Settings(props: { me: Me; navigate: Navigate }) {
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title" tabIndex={-1}>
        Settings
      </h1>
      {props.me.permissions.systemIntegrations ? (
        <ul class="tiles">
          <li>
            <Link to={SI_PATH} navigate={props.navigate}>
              System Integrations
            </Link>
            <span class="muted block">API keys for outside systems, how to connect them, and the key settings.</span>
          </li>
          <li>
            <Link to={WEBHOOKS} navigate={props.navigate}>
              Webhooks
            </Link>
            <span class="muted block">Tell your other systems when a lead arrives or a key is about to expire.</span>
          </li>
          <li>
            <Link to={ACTIVITY} navigate={props.navigate}>
              Activity
            </Link>
            <span class="muted block">Who did what to the keys and the permission, and every sign-in.</span>
          </li>
        </ul>
      ) : (
        <NoPermission />
      )}
    </section>
  );
}

function NotFound(props: { navigate: Navigate }) {
  return (
    <section aria-labelledby="missing-title">
      <h1 id="missing-title" tabIndex={-1}>
        Page not found
      </h1>
      <p>There is no page at this address.</p>
      <p>
        <Link to={HOME} navigate={props.navigate}>
          Go to the home page
        </Link>
      </p>
    </section>
  );
}

/** A System Integrations page (the keys, a key, the activity): only for staff with the permission. */
function systemIntegrationsPage(path: string, me: Me, navigate: Navigate, onError: (error: unknown) => void): { title: string; view: JSX.Element } | undefined {
  const keyMatch = KEY_PAGE.exec(path);
  const pages = new Map<string, [title: string, view: () => JSX.Element]>([
    [SI_PATH, ['System Integrations', () => <SystemIntegrations me={me} navigate={navigate} onError={onError} />]],
    [ACTIVITY, ['Activity', () => <Activity navigate={navigate} onError={onError} />]],
    [WEBHOOKS, ['Webhooks', () => <Webhooks navigate={navigate} onError={onError} />]],
  ]);
  const page = keyMatch ? (['API key', () => <KeyPage keyId={keyMatch[1]!} me={me} navigate={navigate} onError={onError} />] as const) : pages.get(path);
  if (!page) return undefined;
  const [title, view] = page;
  if (!me.permissions.systemIntegrations) {
    return {
      title,
      view: (
        <section>
          <h1 tabIndex={-1}>{title}</h1>
          <NoPermission />
        </section>
      ),
    };
  }
  return { title, view: view() };
}

/** The page for a path: its title (for document.title) and what it shows. */
function route(path: string, me: Me, navigate: Navigate, onError: (error: unknown) => void, onChanged: () => void): { title: string; view: JSX.Element } {
  const staffMatch = /^\/console\/staff\/([\w-]+)$/.exec(path);
  if (path === HOME) return { title: 'Home', view: <Home me={me} navigate={navigate} /> };
  if (path === SETTINGS) return { title: 'Settings', view: <Settings me={me} navigate={navigate} /> };
  const integrations = systemIntegrationsPage(path, me, navigate, onError);
  if (integrations) return integrations;
  if (path === STAFF) return { title: 'Staff', view: <StaffList navigate={navigate} onError={onError} /> };
  if (staffMatch) return { title: 'Staff member', view: <StaffDetail staffId={staffMatch[1]!} me={me} navigate={navigate} onError={onError} onChanged={onChanged} /> };
  return { title: 'Page not found', view: <NotFound navigate={navigate} /> };
}

function App() {
  const [path, setPath] = useState(window.location.pathname);
  const [me, setMe] = useState<Me>();
  const [banner, setBanner] = useState<{ message: string; signInAgain: boolean }>();

  const navigate: Navigate = (to) => {
    window.history.pushState(null, '', to);
    setPath(new URL(to, window.location.origin).pathname);
    setBanner(undefined);
    window.scrollTo(0, 0);
    requestAnimationFrame(() => document.querySelector<HTMLElement>('main h1')?.focus());
  };
  const onError = (error: unknown) => {
    const expired = error instanceof ApiError && error.status === 401;
    setBanner({ message: expired ? SESSION_EXPIRED : error instanceof Error ? error.message : String(error), signInAgain: expired });
  };
  const loadMe = () => call('GET', '/me').then(setMe, onError);

  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener('popstate', onPop);
    void loadMe();
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const page = me ? route(path, me, navigate, onError, () => void loadMe()) : undefined;
  useEffect(() => {
    document.title = `${page?.title ?? 'Loading'} · Octiv`;
  }, [page?.title]);

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">
          Octiv{me && <span class="facility">{me.facilityName}</span>}
        </span>
        {me && (
          <nav aria-label="Main">
            <Link to={HOME} navigate={navigate} current={path === HOME}>
              Home
            </Link>
            {me.role !== 'trainer' && (
              <Link to={STAFF} navigate={navigate} current={path.startsWith(STAFF)}>
                Staff
              </Link>
            )}
            {me.permissions.systemIntegrations && (
              <span class="nav-group">
                <Link to={SETTINGS} navigate={navigate} current={path === SETTINGS}>
                  Settings
                </Link>
                <span class="nav-sep" aria-hidden="true">
                  ›
                </span>
                <Link to={SI_PATH} navigate={navigate} current={path.startsWith(SI_PATH)}>
                  System Integrations
                </Link>
              </span>
            )}
          </nav>
        )}
        <div class="who">
          {me && <span class="wide-only">{me.name}</span>}
          <button type="button" class="secondary small" onClick={() => void signOut().catch(onError)}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        {banner && (
          <div class="error" role="alert">
            <p>{banner.message}</p>
            {banner.signInAgain && (
              <button type="button" onClick={() => void signIn(window.location.pathname).catch(onError)}>
                Sign in again
              </button>
            )}
          </div>
        )}
        {!me && !banner && <p aria-live="polite">Loading…</p>}
        {page?.view}
      </main>
    </>
  );
}

/** A page of its own, outside the signed-in app (sign-in problems, signed out). */
function Standalone(props: { title: string; message: string; alert?: boolean }) {
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    document.title = `${props.title} · Octiv`;
  }, []);
  const alert = props.alert || problem !== undefined;
  return (
    <main id="main" class="standalone">
      <h1>{props.title}</h1>
      <p class={alert ? 'error' : undefined} role={alert ? 'alert' : 'status'}>
        {problem ?? props.message}
      </p>
      <button type="button" onClick={() => void signIn('/console/').catch((error: Error) => setProblem(error.message))}>
        Sign in again
      </button>
    </main>
  );
}

async function start(): Promise<void> {
  const root = document.getElementById('page')!;
  root.replaceChildren(); // the static "Loading…" placeholder
  if (window.location.pathname === SIGNED_OUT_PATH) {
    render(<Standalone title="You are signed out" message="You signed out of the Octiv console. Sign in again to continue." />, root);
    return;
  }
  if (window.location.pathname === '/console/callback') {
    try {
      const next = await completeSignIn();
      window.history.replaceState(null, '', next);
    } catch (error) {
      render(<Standalone title="Sign-in problem" message={(error as Error).message} alert />, root);
      return;
    }
  }
  if (!currentSession()) {
    await signIn(window.location.pathname + window.location.search).catch((error: Error) =>
      render(<Standalone title="Sign-in problem" message={error.message} alert />, root),
    );
    return;
  }
  render(<App />, root);
}

void start();
