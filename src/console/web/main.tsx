import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import { ApiError, call, SESSION_EXPIRED, type Me } from './api.js';
import { completeSignIn, currentSession, signIn, signOut } from './auth.js';
import { ROLE_NAMES } from './labels.js';
import { StaffDetail, StaffList } from './pages/staff.js';
import { SystemIntegrations } from './pages/system-integrations.js';

const SI_PATH = '/console/settings/system-integrations';

function App() {
  const [path, setPath] = useState(window.location.pathname);
  const [me, setMe] = useState<Me>();
  const [banner, setBanner] = useState<{ message: string; signInAgain: boolean }>();

  const navigate = (to: string) => {
    window.history.pushState(null, '', to);
    setPath(to);
    setBanner(undefined);
    window.scrollTo(0, 0);
    requestAnimationFrame(() => document.querySelector<HTMLElement>('main h1')?.focus());
  };
  const onError = (error: unknown) => {
    const expired = error instanceof ApiError && error.status === 401;
    setBanner({ message: expired ? SESSION_EXPIRED : error instanceof Error ? error.message : String(error), signInAgain: expired });
  };
  const loadMe = () => call<Me>('/me').then(setMe, onError);

  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener('popstate', onPop);
    void loadMe();
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const link = (to: string, label: string) => (
    <a href={to} aria-current={path.startsWith(to) ? 'page' : undefined} onClick={(event) => (event.preventDefault(), navigate(to))}>
      {label}
    </a>
  );

  let page = null;
  if (me) {
    const staffMatch = /^\/console\/staff\/([\w-]+)$/.exec(path);
    if (path === SI_PATH) {
      page = me.permissions.systemIntegrations ? (
        <SystemIntegrations onError={onError} />
      ) : (
        <section>
          <h1 tabIndex={-1}>System Integrations</h1>
          <p class="notice">You do not have the System Integrations permission. An Owner can grant it on the Staff Access tab.</p>
        </section>
      );
    } else if (staffMatch) {
      page = <StaffDetail staffId={staffMatch[1]!} me={me} navigate={navigate} onError={onError} onChanged={() => void loadMe()} />;
    } else if (path === '/console/staff') {
      page = <StaffList navigate={navigate} onError={onError} />;
    } else {
      page = (
        <section>
          <h1 tabIndex={-1}>Welcome, {me.name}</h1>
          <p class="muted">
            Signed in as {ROLE_NAMES[me.role]}.{' '}
            {me.permissions.systemIntegrations
              ? 'Manage API keys under Settings > System Integrations.'
              : me.role === 'trainer'
                ? 'There is nothing to manage here for your role.'
                : 'See your team under Staff.'}
          </p>
        </section>
      );
    }
  }

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Octiv</span>
        {me && (
          <nav aria-label="Main">
            {me.role !== 'trainer' && link('/console/staff', 'Staff')}
            {me.permissions.systemIntegrations && (
              <span class="nav-group">
                <span class="nav-label">Settings</span>
                {link(SI_PATH, 'System Integrations')}
              </span>
            )}
          </nav>
        )}
        <div class="who">
          {me && <span class="wide-only">{me.name}</span>}
          <button type="button" class="secondary small" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        {banner && (
          <div class="error" role="alert">
            <p>{banner.message}</p>
            {banner.signInAgain && (
              <button type="button" onClick={() => void signIn(window.location.pathname)}>
                Sign in again
              </button>
            )}
          </div>
        )}
        {!me && !banner && <p aria-live="polite">Loading…</p>}
        {page}
      </main>
    </>
  );
}

function SignInProblem(props: { message: string }) {
  return (
    <main id="main">
      <h1>Sign-in problem</h1>
      <p class="error" role="alert">
        {props.message}
      </p>
      <button type="button" onClick={() => void signIn('/console/')}>
        Sign in again
      </button>
    </main>
  );
}

async function start(): Promise<void> {
  const root = document.getElementById('page')!;
  root.replaceChildren(); // the static "Loading…" placeholder
  if (window.location.pathname === '/console/callback') {
    try {
      const next = await completeSignIn();
      window.history.replaceState(null, '', next);
    } catch (error) {
      render(<SignInProblem message={(error as Error).message} />, root);
      return;
    }
  }
  if (!currentSession()) {
    await signIn(window.location.pathname);
    return;
  }
  render(<App />, root);
}

void start();
