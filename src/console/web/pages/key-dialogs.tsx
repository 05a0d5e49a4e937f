import { useEffect, useRef, useState } from 'preact/hooks';

import { ApiError, call, type ApiKey, type CreatedKey, type KeyPolicy, type Scope } from '../api.js';
import { CopyButton, describedBy, FieldMessage, FormButtons, Switch } from '../controls.js';
import { Dialog } from '../dialog.js';
import { ago, plural } from '../format.js';
import { ConnectYourSystem } from './connect.js';

const DAY = 24 * 60 * 60 * 1000;

/** The expiry choices of the create dialog, within the facility's maximum lifetime. */
function expiryChoices(policy: KeyPolicy | undefined): { value: string; label: string }[] {
  const max = policy?.maxLifetimeDays ?? null;
  const days = [30, 90, 365].filter((count) => max === null || count <= max);
  if (max !== null && !days.includes(max)) days.push(max);
  return [
    ...days.map((count) => ({ value: String(count), label: `In ${count} days${count === max ? ' (the maximum)' : ''}` })),
    { value: 'date', label: 'On a date' },
    ...(max === null ? [{ value: 'never', label: 'Never' }] : []),
  ];
}

function isoDay(date: Date): string {
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
}

export function CreateKeyDialog(props: {
  scopes: Scope[];
  policy: KeyPolicy | undefined;
  facilityName: string;
  onCancel: () => void;
  onCreated: (created: CreatedKey) => void;
  onError: (error: unknown) => void;
}) {
  const [name, setName] = useState('');
  // The first scope (leads:create, what a landing page needs) is ticked to begin with; more are a choice.
  const [chosen, setChosen] = useState<Scope['name'][]>(props.scopes.length > 0 ? [props.scopes[0]!.name] : []);
  const choices = expiryChoices(props.policy);
  const max = props.policy?.maxLifetimeDays ?? null;
  const [expiry, setExpiry] = useState(max === null ? 'never' : String(max));
  const [date, setDate] = useState('');
  const [errors, setErrors] = useState<{ name?: string; scopes?: string; expiresAt?: string; form?: string }>({});
  const [busy, setBusy] = useState(false);
  const nameInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    // After an error, put focus where the problem is.
    if (errors.name) nameInput.current?.focus();
  }, [errors]);

  const expiresAt = (): string | null | undefined => {
    if (expiry === 'never') return null;
    if (expiry === 'date') return date ? new Date(`${date}T23:59:59`).toISOString() : undefined;
    return new Date(Date.now() + Number(expiry) * DAY).toISOString();
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    const when = expiresAt();
    const local = {
      ...(name.trim() === '' ? { name: 'Enter a name that says which system will use the key.' } : {}),
      ...(chosen.length === 0 ? { scopes: 'Choose at least one scope.' } : {}),
      ...(when === undefined ? { expiresAt: 'Choose the date the key stops working.' } : {}),
    };
    setErrors(local);
    if (local.name || local.scopes || local.expiresAt) return;
    setBusy(true);
    try {
      props.onCreated(await call('POST', '/api-keys', { body: { name, scopes: chosen, expiresAt: when } }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) setErrors({ name: error.message });
      else if (error instanceof ApiError && error.status === 400) {
        setErrors({ name: error.fields.name, scopes: error.fields.scopes, expiresAt: error.fields.expiresAt, form: error.message });
      } else if (error instanceof ApiError && error.status === 403) setErrors({ form: error.message });
      else props.onError(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="Create API Key" onEscape={props.onCancel}>
      <form onSubmit={submit} noValidate>
        <p class="muted">For {props.facilityName}.</p>
        {errors.form && !errors.name && !errors.scopes && !errors.expiresAt && (
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
          aria-describedby={describedBy('key-name', errors.name)}
          onInput={(event) => setName((event.currentTarget as HTMLInputElement).value)}
        />
        <FieldMessage id="key-name" error={errors.name} hint="Name the system that will use this key." />
        <fieldset aria-describedby={describedBy('scopes', errors.scopes, false)}>
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
          <FieldMessage id="scopes" error={errors.scopes} />
        </fieldset>
        <fieldset aria-describedby={describedBy('expiry', errors.expiresAt)}>
          <legend>Expires</legend>
          {choices.map((choice) => (
            <div class="check" key={choice.value}>
              <input type="radio" name="expiry" id={`expiry-${choice.value}`} checked={expiry === choice.value} onChange={() => setExpiry(choice.value)} />
              <label for={`expiry-${choice.value}`}>{choice.label}</label>
            </div>
          ))}
          {expiry === 'date' && (
            <div class="indent">
              <label for="expiry-date">Date</label>
              <input
                type="date"
                id="expiry-date"
                value={date}
                min={isoDay(new Date(Date.now() + DAY))}
                max={max === null ? undefined : isoDay(new Date(Date.now() + max * DAY))}
                onInput={(event) => setDate((event.currentTarget as HTMLInputElement).value)}
              />
            </div>
          )}
          <FieldMessage
            id="expiry"
            error={errors.expiresAt}
            hint={max === null ? 'A key that expires stops working on its own; you can rotate it before then.' : `Keys of ${props.facilityName} live at most ${plural(max, 'day')}.`}
          />
        </fieldset>
        <FormButtons onCancel={props.onCancel} busy={busy} label="Generate Key" busyLabel="Generating…" />
      </form>
    </Dialog>
  );
}

/**
 * Shows a new secret once (after create or rotate). Done stays disabled until
 * the acknowledgement switch is on; Escape does not skip it.
 */
export function KeyShownOnceDialog(props: { title: string; created: CreatedKey; onDone: () => void }) {
  const [stored, setStored] = useState(false);
  return (
    <Dialog title={props.title} onEscape={stored ? props.onDone : undefined} describedBy="key-once" wide>
      <p id="key-once" class="wrap">
        This is the only time the key for <strong>{props.created.name}</strong> is shown. Copy it now and store it somewhere safe, such as your CRM&apos;s settings
        or a password manager.
      </p>
      <label for="new-key">API key</label>
      <div class="key-row">
        <input id="new-key" readOnly value={props.created.key} spellcheck={false} autoComplete="off" onFocus={(event) => (event.currentTarget as HTMLInputElement).select()} />
        <CopyButton text={props.created.key} autofocus />
      </div>
      <ConnectYourSystem headingLevel={3} />
      <Switch id="key-stored" label="I have copied my API key and stored it securely" checked={stored} onChange={setStored} />
      <div class="buttons">
        <button type="button" disabled={!stored} onClick={props.onDone}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

const GRACE_CHOICES = [
  { seconds: 0, label: 'Stop the current key now' },
  { seconds: 3600, label: 'Keep it working for 1 hour' },
  { seconds: 86_400, label: 'Keep it working for 1 day' },
  { seconds: 604_800, label: 'Keep it working for 7 days' },
];

/** Rotate: choose how long the current secret keeps working, then get the new one (shown once). */
export function RotateKeyDialog(props: { apiKey: ApiKey; onCancel: () => void; onRotated: (created: CreatedKey) => void; onError: (error: unknown) => void }) {
  const [grace, setGrace] = useState(86_400);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  const rotate = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      props.onRotated(await call('POST', '/api-keys/{id}/rotate', { path: { id: props.apiKey.id }, body: { graceSeconds: grace } }));
    } catch (error) {
      if (error instanceof ApiError && [403, 404, 409].includes(error.status)) setProblem(error.message);
      else props.onError(error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="Rotate Key" onEscape={props.onCancel} describedBy="rotate-what">
      <form onSubmit={rotate}>
        <p id="rotate-what" class="wrap">
          Rotating <strong>{props.apiKey.name}</strong> makes a new key for the same integration. Give the new key to the system that uses it; the current key
          keeps working for the time you choose, so nothing stops while you switch.
        </p>
        {problem && (
          <p class="error" role="alert">
            {problem}
          </p>
        )}
        <fieldset>
          <legend>The current key</legend>
          {GRACE_CHOICES.map((choice) => (
            <div class="check" key={choice.seconds}>
              <input type="radio" name="grace" id={`grace-${choice.seconds}`} checked={grace === choice.seconds} onChange={() => setGrace(choice.seconds)} data-autofocus={choice.seconds === 86_400 ? true : undefined} />
              <label for={`grace-${choice.seconds}`}>{choice.label}</label>
            </div>
          ))}
        </fieldset>
        <FormButtons onCancel={props.onCancel} busy={busy} label="Rotate Key" busyLabel="Rotating…" />
      </form>
    </Dialog>
  );
}

export function DeleteKeyDialog(props: { apiKey: ApiKey; facilityName: string; onCancel: () => void; onDeleted: () => void; onError: (error: unknown) => void }) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  const { apiKey } = props;
  const remove = async () => {
    setBusy(true);
    try {
      await call('DELETE', '/api-keys/{id}', { path: { id: apiKey.id } });
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
      <p id="delete-warning" class="wrap">
        Delete <strong>{apiKey.name}</strong> from {props.facilityName}? Deletion is immediate and cannot be undone: any system still using this key loses access at once.
      </p>
      <p class="muted wrap">
        Created {plural(apiKey.leadsCreated, 'lead')};{' '}
        {apiKey.lastUsedAt ? `last used ${ago(apiKey.lastUsedAt)}${apiKey.lastUsedIp ? ` from ${apiKey.lastUsedIp}` : ''}.` : 'never used.'}
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
