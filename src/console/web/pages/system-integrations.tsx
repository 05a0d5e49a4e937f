import { useEffect, useRef, useState } from 'preact/hooks';

import { ApiError, call, type ApiKey, type CreatedKey, type FacilityLocation, type KeyPolicy, type Me, type Scope } from '../api.js';
import { Messages } from '../controls.js';
import { ago, formatDateTime, fromNow, perWindow } from '../format.js';
import { locationsText } from '../labels.js';
import { keyPath } from '../paths.js';
import { ConnectYourSystem } from './connect.js';
import { CreateKeyDialog, DeleteKeyDialog, KeyShownOnceDialog, RotateKeyDialog } from './key-dialogs.js';
import { KeyPolicyCard } from './key-policy.js';
import { WebhooksCard } from './webhooks.js';

function TrashIcon() {
  return (
    <svg aria-hidden="true" width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
      <path d="M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6M10 11v6M14 11v6" />
    </svg>
  );
}

const STATUS_WORDS: Record<ApiKey['status'], string> = {
  active: 'Active',
  rotating: 'Rotating',
  expired: 'Expired',
  revoked: 'Revoked',
  invalid: 'Not working',
};

function statusText(apiKey: ApiKey): string {
  if (apiKey.status === 'revoked' && apiKey.revocation?.reason === 'leaked') return 'Revoked (leaked)';
  return STATUS_WORDS[apiKey.status];
}

type DialogState =
  | { kind: 'create' }
  | { kind: 'shown'; title: string; created: CreatedKey }
  | { kind: 'rotate'; apiKey: ApiKey }
  | { kind: 'delete'; apiKey: ApiKey };

/** A key as one row: stacked into labelled lines on narrow screens (the labels come from `data-label`). */
function KeyRow(props: {
  apiKey: ApiKey;
  locations: FacilityLocation[];
  navigate: (to: string) => void;
  onRotate: () => void;
  onEndGrace: () => void;
  onDelete: () => void;
}) {
  const { apiKey } = props;
  const usable = apiKey.status === 'active' || apiKey.status === 'rotating';
  const history = `/console/settings/system-integrations/activity?keyId=${apiKey.id}`;
  return (
    <tr role="row">
      <td role="cell" data-label="Name" class="name-cell">
        <a href={keyPath(apiKey.id)} class="wrap" onClick={(event) => (event.preventDefault(), props.navigate(keyPath(apiKey.id)))}>
          {apiKey.name}
        </a>
        {apiKey.hint && <code class="hint">{apiKey.hint}</code>}
        {apiKey.status !== 'active' && <span class={`badge badge-${apiKey.status}`}>{statusText(apiKey)}</span>}
      </td>
      <td role="cell" data-label="Scope">
        {apiKey.scopes.join(', ')}
      </td>
      <td role="cell" data-label="Locations" class="wrap">
        {locationsText(apiKey, props.locations)}
      </td>
      <td role="cell" data-label="Created">
        <time dateTime={apiKey.createdAt}>{formatDateTime(apiKey.createdAt)}</time>
        <span class="muted block">by {apiKey.createdBy.name}</span>
      </td>
      <td role="cell" data-label="Last used">
        {apiKey.lastUsedAt ? (
          <>
            <time dateTime={apiKey.lastUsedAt}>{formatDateTime(apiKey.lastUsedAt)}</time>
            {apiKey.lastUsedIp && <span class="muted block wrap">from {apiKey.lastUsedIp}</span>}
          </>
        ) : (
          'Never'
        )}
        {apiKey.rotation && (
          <span class="muted block">
            Old key: {apiKey.rotation.previousLastUsedAt ? `last used ${ago(apiKey.rotation.previousLastUsedAt)}` : 'not used since'}; stops in{' '}
            {fromNow(apiKey.rotation.previousExpiresAt)}
          </span>
        )}
      </td>
      <td role="cell" data-label="Expires">
        {apiKey.expiresAt ? <time dateTime={apiKey.expiresAt}>{formatDateTime(apiKey.expiresAt)}</time> : 'Never'}
        <span class="muted block">{apiKey.rateLimit.limit.toLocaleString('en-US')} requests a {perWindow(apiKey.rateLimit.windowSeconds)}</span>
      </td>
      <td role="cell" data-label="Actions" class="actions">
        {usable && (
          <button type="button" class="secondary small" aria-label={`Rotate ${apiKey.name}`} onClick={props.onRotate}>
            Rotate
          </button>
        )}
        {apiKey.status === 'rotating' && (
          <button type="button" class="secondary small" aria-label={`End grace period now for ${apiKey.name}`} onClick={props.onEndGrace}>
            End grace period now
          </button>
        )}
        <a href={history} class="small-link" aria-label={`History of ${apiKey.name}`} onClick={(event) => (event.preventDefault(), props.navigate(history))}>
          History
        </a>
        <button type="button" class="icon" aria-label={`Delete ${apiKey.name}`} title={`Delete ${apiKey.name}`} onClick={props.onDelete}>
          <TrashIcon />
        </button>
      </td>
    </tr>
  );
}

/** Keys found in public and revoked: the facility is told which, where and when. */
function LeakNotice(props: { keys: ApiKey[] }) {
  const leaked = props.keys.filter((apiKey) => apiKey.revocation?.reason === 'leaked');
  if (leaked.length === 0) return null;
  return (
    <section class="notice" aria-labelledby="leak-title">
      <h2 id="leak-title">{leaked.length === 1 ? 'A key was found in public and revoked' : `${leaked.length} keys were found in public and revoked`}</h2>
      <ul>
        {leaked.map((apiKey) => (
          <li key={apiKey.id} class="wrap">
            <strong>{apiKey.name}</strong> was found {apiKey.revocation!.url ? <>at <code class="wrap">{apiKey.revocation!.url}</code></> : 'in public'}
            {apiKey.revocation!.source ? ` (${apiKey.revocation!.source})` : ''} and revoked {formatDateTime(apiKey.revocation!.revokedAt)}.
          </li>
        ))}
      </ul>
      <p>Systems using {leaked.length === 1 ? 'it' : 'them'} stopped working. Create a new key for each, give it to the system, then delete the revoked one.</p>
    </section>
  );
}

/** The facility's keys, one row each (never a key itself). */
function KeyTable(props: {
  keys: ApiKey[];
  locations: FacilityLocation[];
  facilityName: string;
  navigate: (to: string) => void;
  onRotate: (apiKey: ApiKey) => void;
  onEndGrace: (apiKey: ApiKey) => void;
  onDelete: (apiKey: ApiKey) => void;
}) {
  return (
    <table class="stack" role="table" aria-labelledby="keys-caption">
      <caption id="keys-caption" class="visually-hidden">
        API keys of {props.facilityName}
      </caption>
      <thead>
        <tr role="row">
          <th scope="col" role="columnheader">Name</th>
          <th scope="col" role="columnheader">Scope</th>
          <th scope="col" role="columnheader">Locations</th>
          <th scope="col" role="columnheader">Created</th>
          <th scope="col" role="columnheader">Last used</th>
          <th scope="col" role="columnheader">Expires</th>
          <th scope="col" role="columnheader">Actions</th>
        </tr>
      </thead>
      <tbody>
        {props.keys.map((apiKey) => (
          <KeyRow
            key={apiKey.id}
            apiKey={apiKey}
            locations={props.locations}
            navigate={props.navigate}
            onRotate={() => props.onRotate(apiKey)}
            onEndGrace={() => props.onEndGrace(apiKey)}
            onDelete={() => props.onDelete(apiKey)}
          />
        ))}
      </tbody>
    </table>
  );
}

/** The page's breadcrumb, title and what it is for. */
function PageHeading(props: { facilityName: string; navigate: (to: string) => void }) {
  return (
    <>
      <p class="breadcrumb">
        <a href="/console/settings" onClick={(event) => (event.preventDefault(), props.navigate('/console/settings'))}>
          Settings
        </a>{' '}
        ›
      </p>
      <h1 id="si-title" tabIndex={-1}>
        System Integrations
      </h1>
      <p class="muted">API keys let outside systems, such as a CRM or a landing page, send leads to {props.facilityName} or read them; webhooks tell them when something happens.</p>
    </>
  );
}

/** To the Activity page: who did what to the keys. */
function ActivityLink(props: { navigate: (to: string) => void }) {
  const to = '/console/settings/system-integrations/activity';
  return (
    <p>
      <a href={to} onClick={(event) => (event.preventDefault(), props.navigate(to))}>
        Activity: who did what to the keys
      </a>
    </p>
  );
}

/** Settings > System Integrations: the API Keys card, how to connect, and the key settings. */
export function SystemIntegrations(props: { me: Me; navigate: (to: string) => void; onError: (error: unknown) => void }) {
  const [keys, setKeys] = useState<ApiKey[]>();
  const [scopes, setScopes] = useState<Scope[]>([]);
  const [locations, setLocations] = useState<FacilityLocation[]>([]);
  const [policy, setPolicy] = useState<KeyPolicy>();
  const [problem, setProblem] = useState<string>();
  const [dialog, setDialog] = useState<DialogState>();
  const [notice, setNotice] = useState<string>();
  const createButton = useRef<HTMLButtonElement>(null);

  const load = async () => {
    try {
      const [list, catalogue, settings, places] = await Promise.all([
        call('GET', '/api-keys'),
        call('GET', '/scopes'),
        call('GET', '/settings/api-keys'),
        call('GET', '/locations'),
      ]);
      setKeys(list.items);
      setScopes(catalogue.items);
      setLocations(places.items);
      setPolicy(settings);
      setProblem(undefined);
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) setProblem(error.message);
      else props.onError(error);
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const fail = (error: unknown) => {
    setDialog(undefined);
    if (error instanceof ApiError && error.status === 403) setProblem(error.message);
    else props.onError(error);
  };
  const endGrace = async (apiKey: ApiKey) => {
    try {
      await call('DELETE', '/api-keys/{id}/previous', { path: { id: apiKey.id } });
      setNotice(`The old key of "${apiKey.name}" stopped working. Only the new one works now.`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) return fail(error);
    }
    await load();
  };
  return (
    <section aria-labelledby="si-title">
      <PageHeading facilityName={props.me.facilityName} navigate={props.navigate} />
      <Messages problem={problem} notice={notice} />
      {keys && <LeakNotice keys={keys} />}
      {!problem && (
        <div class="card">
          <div class="card-header">
            <h2>API Keys</h2>
            <button type="button" ref={createButton} onClick={() => (setNotice(undefined), setDialog({ kind: 'create' }))} disabled={!keys}>
              Create API Key
            </button>
          </div>
          {!keys && <p aria-live="polite">Loading…</p>}
          {keys && keys.length === 0 && <p class="empty">No API keys yet. Create one for each system you connect.</p>}
          {keys && keys.length > 0 && (
            <KeyTable
              keys={keys}
              locations={locations}
              facilityName={props.me.facilityName}
              navigate={props.navigate}
              onRotate={(apiKey) => (setNotice(undefined), setDialog({ kind: 'rotate', apiKey }))}
              onEndGrace={(apiKey) => void endGrace(apiKey)}
              onDelete={(apiKey) => (setNotice(undefined), setDialog({ kind: 'delete', apiKey }))}
            />
          )}
        </div>
      )}
      {!problem && (
        <div class="card">
          <ConnectYourSystem />
        </div>
      )}
      {!problem && <WebhooksCard navigate={props.navigate} />}
      {!problem && policy && <KeyPolicyCard me={props.me} policy={policy} onSaved={setPolicy} onError={props.onError} />}
      {!problem && <ActivityLink navigate={props.navigate} />}
      {dialog?.kind === 'create' && (
        <CreateKeyDialog
          scopes={scopes}
          locations={locations}
          policy={policy}
          facilityName={props.me.facilityName}
          onCancel={() => setDialog(undefined)}
          onError={fail}
          onCreated={(created) => {
            const { key: _key, ...listed } = created;
            setKeys((current) => [listed, ...(current ?? [])]);
            setDialog({ kind: 'shown', title: 'API Key Created', created });
          }}
        />
      )}
      {dialog?.kind === 'shown' && (
        <KeyShownOnceDialog
          title={dialog.title}
          created={dialog.created}
          onDone={() => {
            // The key leaves the page (and our state) here, for good.
            setNotice(`API key "${dialog.created.name}" is ready to use.`);
            setDialog(undefined);
            void load();
          }}
        />
      )}
      {dialog?.kind === 'rotate' && (
        <RotateKeyDialog
          apiKey={dialog.apiKey}
          onCancel={() => setDialog(undefined)}
          onError={fail}
          onRotated={(created) => setDialog({ kind: 'shown', title: 'API Key Rotated', created })}
        />
      )}
      {dialog?.kind === 'delete' && (
        <DeleteKeyDialog
          apiKey={dialog.apiKey}
          facilityName={props.me.facilityName}
          onCancel={() => setDialog(undefined)}
          onError={fail}
          onDeleted={() => {
            setKeys((current) => current?.filter((item) => item.id !== dialog.apiKey.id));
            setNotice(`API key "${dialog.apiKey.name}" was deleted. Systems using it no longer have access.`);
            setDialog(undefined);
            requestAnimationFrame(() => createButton.current?.focus());
          }}
        />
      )}
    </section>
  );
}
