import { useEffect, useRef, useState } from 'preact/hooks';

import { ApiError, call, type ApiKey, type Scope } from '../api.js';
import { Dialog } from '../dialog.js';

const dateFormat = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric' });

function TrashIcon() {
  return (
    <svg aria-hidden="true" width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
      <path d="M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6M10 11v6M14 11v6" />
    </svg>
  );
}

function CreateKeyDialog(props: { scopes: Scope[]; onCancel: () => void; onCreated: (created: ApiKey & { key: string }) => void; onError: (error: unknown) => void }) {
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<string[]>(props.scopes.length === 1 ? [props.scopes[0]!.name] : []);
  const [errors, setErrors] = useState<{ name?: string; scopes?: string; form?: string }>({});
  const [busy, setBusy] = useState(false);
  const nameInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    // After an error, put focus where the problem is.
    if (errors.name) nameInput.current?.focus();
  }, [errors]);

  const submit = async (event: Event) => {
    event.preventDefault();
    const local = {
      ...(name.trim() === '' ? { name: 'Enter a name that says which system will use the key.' } : {}),
      ...(chosen.length === 0 ? { scopes: 'Choose at least one scope.' } : {}),
    };
    setErrors(local);
    if (local.name || local.scopes) return;
    setBusy(true);
    try {
      props.onCreated(await call<ApiKey & { key: string }>('/api-keys', { method: 'POST', body: { name, scopes: chosen } }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) setErrors({ name: error.message });
      else if (error instanceof ApiError && error.status === 400) setErrors({ name: error.fields.name, scopes: error.fields.scopes, form: error.message });
      else if (error instanceof ApiError && error.status === 403) setErrors({ form: error.message });
      else props.onError(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="Create API Key" onEscape={props.onCancel}>
      <form onSubmit={submit} noValidate>
        {errors.form && !errors.name && !errors.scopes && (
          <p class="error" role="alert">
            {errors.form}
          </p>
        )}
        <label for="key-name">Key Name</label>
        <input
          id="key-name"
          ref={nameInput}
          data-autofocus
          value={name}
          maxLength={100}
          placeholder="Landing Page Connector"
          aria-invalid={errors.name ? 'true' : undefined}
          aria-describedby={errors.name ? 'key-name-error' : 'key-name-hint'}
          onInput={(event) => setName((event.currentTarget as HTMLInputElement).value)}
        />
        {errors.name ? (
          <p id="key-name-error" class="field-error" role="alert">
            {errors.name}
          </p>
        ) : (
          <p id="key-name-hint" class="muted">
            Name the system that will use this key.
          </p>
        )}
        <fieldset aria-describedby={errors.scopes ? 'scopes-error' : undefined}>
          <legend>Scopes</legend>
          {props.scopes.map((scope) => (
            <div class="check" key={scope.name}>
              <input
                type="checkbox"
                id={`scope-${scope.name}`}
                checked={chosen.includes(scope.name)}
                onChange={(event) =>
                  setChosen((event.currentTarget as HTMLInputElement).checked ? [...chosen, scope.name] : chosen.filter((item) => item !== scope.name))
                }
                aria-describedby={`scope-${scope.name}-description`}
              />
              <div>
                <label for={`scope-${scope.name}`}>{scope.name}</label>
                <p id={`scope-${scope.name}-description`} class="muted">
                  {scope.description}
                </p>
              </div>
            </div>
          ))}
          {errors.scopes && (
            <p id="scopes-error" class="field-error" role="alert">
              {errors.scopes}
            </p>
          )}
        </fieldset>
        <div class="buttons">
          <button type="button" class="secondary" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" disabled={busy}>
            {busy ? 'Generating…' : 'Generate Key'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Shows the new key once. Done stays disabled until the owner confirms they stored it. */
function KeyCreatedDialog(props: { created: ApiKey & { key: string }; onDone: () => void }) {
  const [stored, setStored] = useState(false);
  const [copied, setCopied] = useState<string>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.created.key);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('Copying failed: select the key and copy it by hand.');
    }
  };
  return (
    <Dialog title="API Key Created" onEscape={stored ? props.onDone : undefined} describedBy="key-once">
      <p id="key-once">
        This is the only time the key for <strong>{props.created.name}</strong> is shown. Copy it now and store it somewhere safe, such as your CRM's
        settings or a password manager.
      </p>
      <label for="new-key">API key</label>
      <div class="key-row">
        <input id="new-key" readOnly value={props.created.key} spellcheck={false} autoComplete="off" onFocus={(event) => (event.currentTarget as HTMLInputElement).select()} />
        <button type="button" class="secondary" onClick={copy} data-autofocus>
          Copy
        </button>
      </div>
      <p class="muted" aria-live="polite">
        {copied}
      </p>
      <div class="check switch">
        <input type="checkbox" role="switch" id="key-stored" checked={stored} onChange={(event) => setStored((event.currentTarget as HTMLInputElement).checked)} />
        <label for="key-stored">I have copied my API key and stored it securely</label>
      </div>
      <div class="buttons">
        <button type="button" disabled={!stored} onClick={props.onDone}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

function DeleteKeyDialog(props: { apiKey: ApiKey; onCancel: () => void; onDeleted: () => void; onError: (error: unknown) => void }) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  const remove = async () => {
    setBusy(true);
    try {
      await call(`/api-keys/${props.apiKey.id}`, { method: 'DELETE' });
      props.onDeleted();
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) props.onDeleted();
      else if (error instanceof ApiError && error.status === 403) setProblem(error.message);
      else props.onError(error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="Delete Key" onEscape={props.onCancel} describedBy="delete-warning">
      <p id="delete-warning">
        Delete <strong>{props.apiKey.name}</strong>? Deletion is immediate and cannot be undone: any system still using this key loses access at once.
      </p>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      <div class="buttons">
        <button type="button" class="secondary" onClick={props.onCancel} data-autofocus>
          Cancel
        </button>
        <button type="button" class="danger" onClick={remove} disabled={busy}>
          Delete Key
        </button>
      </div>
    </Dialog>
  );
}

/** Settings > System Integrations: the API Keys card. */
export function SystemIntegrations(props: { onError: (error: unknown) => void }) {
  const [keys, setKeys] = useState<ApiKey[]>();
  const [scopes, setScopes] = useState<Scope[]>([]);
  const [problem, setProblem] = useState<string>();
  const [dialog, setDialog] = useState<{ kind: 'create' } | { kind: 'created'; created: ApiKey & { key: string } } | { kind: 'delete'; apiKey: ApiKey }>();
  const [notice, setNotice] = useState<string>();
  const createButton = useRef<HTMLButtonElement>(null);

  const load = async () => {
    try {
      const [list, catalogue] = await Promise.all([call<{ items: ApiKey[] }>('/api-keys'), call<{ items: Scope[] }>('/scopes')]);
      setKeys(list.items);
      setScopes(catalogue.items);
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

  return (
    <section aria-labelledby="si-title">
      <p class="breadcrumb">Settings</p>
      <h1 id="si-title">System Integrations</h1>
      <p class="muted">API keys let outside systems, such as a CRM or a landing page, send data to your facility.</p>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {notice && (
        <p class="success" role="status">
          {notice}
        </p>
      )}
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
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Scope</th>
                  <th scope="col">Created</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {keys.map((apiKey) => (
                  <tr key={apiKey.id}>
                    <td>{apiKey.name}</td>
                    <td>{apiKey.scopes.join(', ')}</td>
                    <td>
                      <time dateTime={apiKey.createdAt}>{dateFormat.format(new Date(apiKey.createdAt))}</time>
                    </td>
                    <td class="actions">
                      <button type="button" class="icon" aria-label={`Delete ${apiKey.name}`} title={`Delete ${apiKey.name}`} onClick={() => setDialog({ kind: 'delete', apiKey })}>
                        <TrashIcon />
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
      {dialog?.kind === 'create' && (
        <CreateKeyDialog
          scopes={scopes}
          onCancel={() => setDialog(undefined)}
          onError={fail}
          onCreated={(created) => {
            setKeys((current) => [{ id: created.id, name: created.name, scopes: created.scopes, createdAt: created.createdAt, createdBy: created.createdBy }, ...(current ?? [])]);
            setDialog({ kind: 'created', created });
          }}
        />
      )}
      {dialog?.kind === 'created' && (
        <KeyCreatedDialog
          created={dialog.created}
          onDone={() => {
            // The key leaves the page (and our state) here, for good.
            setDialog(undefined);
            setNotice(`API key "${dialog.created.name}" is ready to use.`);
          }}
        />
      )}
      {dialog?.kind === 'delete' && (
        <DeleteKeyDialog
          apiKey={dialog.apiKey}
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
