import { useEffect, useRef, useState } from 'preact/hooks';

import { ApiError, call, goneIsDone, type ApiKey, type CreatedKey, type KeyPolicy, type FacilityLocation, type Scope } from '../api.js';
import { CheckboxList, describedBy, EveryOrOnly, FieldMessage, FormButtons, TextField } from '../controls.js';
import { ConfirmDialog, Dialog, useDialogAction } from '../dialog.js';
import { ago, plural } from '../format.js';
import { ShownOnceDialog } from '../shown-once.js';
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

type KeyErrors = { name?: string | undefined; scopes?: string | undefined; locationIds?: string | undefined; expiresAt?: string | undefined; form?: string | undefined };

/** The API's word on the chosen locations: on one of them (`locationIds.1`, named here by its name) or on the list (`locationIds`). */
function locationError(fields: Record<string, string>, chosen: string[] | null, locations: FacilityLocation[]): string | undefined {
  const [path, message] = Object.entries(fields).find(([field]) => /^locationIds\.\d+$/.test(field)) ?? [];
  const id = path === undefined ? undefined : chosen?.[Number(path.split('.')[1])];
  const name = locations.find((location) => location.id === id)?.name;
  return name && message ? `“${name}” ${message}` : fields.locationIds;
}

/** What the create dialog says about a refused create, field by field. */
function refusal(error: unknown, chosenLocations: string[] | null, locations: FacilityLocation[]): KeyErrors | undefined {
  if (!(error instanceof ApiError)) return undefined;
  if (error.status === 409) return { name: error.message };
  if (error.status === 403) return { form: error.message };
  if (error.status !== 400) return undefined;
  const { name, scopes, expiresAt } = error.fields;
  return { name, scopes, expiresAt, locationIds: locationError(error.fields, chosenLocations, locations), form: error.message };
}

/** Expires: in so many days, on a date, or never (as the facility's maximum lifetime allows). */
function ExpiryChoices(props: { policy: KeyPolicy | undefined; facilityName: string; expiry: string; onExpiry: (value: string) => void; date: string; onDate: (value: string) => void; error: string | undefined }) {
  const max = props.policy?.maxLifetimeDays ?? null;
  return (
    <fieldset aria-describedby={describedBy('expiry', props.error)}>
      <legend>Expires</legend>
      {expiryChoices(props.policy).map((choice) => (
        <div class="check" key={choice.value}>
          <input type="radio" name="expiry" id={`expiry-${choice.value}`} checked={props.expiry === choice.value} onChange={() => props.onExpiry(choice.value)} />
          <label for={`expiry-${choice.value}`}>{choice.label}</label>
        </div>
      ))}
      {props.expiry === 'date' && (
        <div class="indent">
          <label for="expiry-date">Date</label>
          <input
            type="date"
            id="expiry-date"
            value={props.date}
            min={isoDay(new Date(Date.now() + DAY))}
            max={max === null ? undefined : isoDay(new Date(Date.now() + max * DAY))}
            onInput={(event) => props.onDate((event.currentTarget as HTMLInputElement).value)}
          />
        </div>
      )}
      <FieldMessage
        id="expiry"
        error={props.error}
        hint={max === null ? 'A key that expires stops working on its own; you can rotate it before then.' : `Keys of ${props.facilityName} live at most ${plural(max, 'day')}.`}
      />
    </fieldset>
  );
}

/** Scopes (each with what it lets a system do) and locations (every one, or only some). */
function AccessChoices(props: {
  scopes: Scope[];
  chosen: Scope['name'][];
  onChosen: (chosen: Scope['name'][]) => void;
  locations: FacilityLocation[];
  chosenLocations: string[] | null;
  onLocations: (chosen: string[] | null) => void;
  errors: KeyErrors;
}) {
  return (
    <>
      <fieldset aria-describedby={describedBy('scopes', props.errors.scopes, false)}>
        <legend>Scopes</legend>
        <CheckboxList idPrefix="scope" choices={props.scopes.map((scope) => ({ value: scope.name, label: scope.name, description: scope.description }))} chosen={props.chosen} onChange={props.onChosen} />
        <FieldMessage id="scopes" error={props.errors.scopes} />
      </fieldset>
      {props.locations.length > 0 && (
        <EveryOrOnly
          id="locations"
          legend="Locations"
          every="Every location"
          only="Only these locations"
          choices={props.locations.map((location) => ({ value: location.id, label: location.name }))}
          chosen={props.chosenLocations}
          onChange={props.onLocations}
          error={props.errors.locationIds}
          hint="A key limited to locations adds and reads leads of those locations only, for example a landing page of one gym."
        />
      )}
    </>
  );
}

export function CreateKeyDialog(props: {
  scopes: Scope[];
  locations: FacilityLocation[];
  policy: KeyPolicy | undefined;
  facilityName: string;
  onCancel: () => void;
  onCreated: (created: CreatedKey) => void;
  onError: (error: unknown) => void;
}) {
  const [name, setName] = useState('');
  // The first scope (leads:create, what a landing page needs) is ticked to begin with; more are a choice.
  const [chosen, setChosen] = useState<Scope['name'][]>(props.scopes.length > 0 ? [props.scopes[0]!.name] : []);
  const [locationIds, setLocationIds] = useState<string[] | null>(null);
  const max = props.policy?.maxLifetimeDays ?? null;
  const [expiry, setExpiry] = useState(max === null ? 'never' : String(max));
  const [date, setDate] = useState('');
  const [errors, setErrors] = useState<KeyErrors>({});
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
    const local: KeyErrors = {
      ...(name.trim() === '' ? { name: 'Enter a name that says which system will use the key.' } : {}),
      ...(chosen.length === 0 ? { scopes: 'Choose at least one scope.' } : {}),
      ...(locationIds?.length === 0 ? { locationIds: 'Choose at least one location, or Every location.' } : {}),
      ...(when === undefined ? { expiresAt: 'Choose the date the key stops working.' } : {}),
    };
    setErrors(local);
    if (Object.keys(local).length > 0) return;
    setBusy(true);
    try {
      props.onCreated(await call('POST', '/api-keys', { body: { name, scopes: chosen, expiresAt: when, ...(locationIds ? { locationIds } : {}) } }));
    } catch (error) {
      const said = refusal(error, locationIds, props.locations);
      if (said) setErrors(said);
      else props.onError(error);
    } finally {
      setBusy(false);
    }
  };

  const fieldError = errors.name || errors.scopes || errors.locationIds || errors.expiresAt;
  return (
    <Dialog title="Create API Key" onEscape={props.onCancel}>
      <form onSubmit={submit} noValidate>
        <p class="muted">For {props.facilityName}.</p>
        {errors.form && !fieldError && (
          <p class="error" role="alert">
            {errors.form}
          </p>
        )}
        <TextField
          id="key-name"
          label="Key Name"
          inputRef={nameInput}
          autofocus
          value={name}
          onInput={setName}
          maxLength={100}
          placeholder="Landing Page Connector"
          error={errors.name}
          hint="Name the system that will use this key."
        />
        <AccessChoices scopes={props.scopes} chosen={chosen} onChosen={setChosen} locations={props.locations} chosenLocations={locationIds} onLocations={setLocationIds} errors={errors} />
        <ExpiryChoices policy={props.policy} facilityName={props.facilityName} expiry={expiry} onExpiry={setExpiry} date={date} onDate={setDate} error={errors.expiresAt} />
        <FormButtons onCancel={props.onCancel} busy={busy} label="Generate Key" busyLabel="Generating…" />
      </form>
    </Dialog>
  );
}

/** A new key, shown once (after create or rotate), with how to connect right there. */
export function KeyShownOnceDialog(props: { title: string; created: CreatedKey; onDone: () => void }) {
  return (
    <ShownOnceDialog
      title={props.title}
      id="new-key"
      intro={
        <>
          This is the only time the key for <strong>{props.created.name}</strong> is shown. Copy it now and store it somewhere safe, such as your CRM&apos;s
          settings or a password manager.
        </>
      }
      label="API key"
      secret={props.created.key}
      stored="I have copied my API key and stored it securely"
      onDone={props.onDone}
    >
      <ConnectYourSystem headingLevel={3} />
    </ShownOnceDialog>
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
  const { busy, problem, run } = useDialogAction(props.onError);
  const rotate = (event: Event) => {
    event.preventDefault();
    void run(async () => props.onRotated(await call('POST', '/api-keys/{id}/rotate', { path: { id: props.apiKey.id }, body: { graceSeconds: grace } })));
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
  const { apiKey } = props;
  const remove = async () => {
    await call('DELETE', '/api-keys/{id}', { path: { id: apiKey.id } }).catch(goneIsDone);
    props.onDeleted();
  };
  return (
    <ConfirmDialog title="Delete Key" describedBy="delete-warning" action="Delete Key" busyAction="Deleting…" danger onConfirm={remove} onCancel={props.onCancel} onError={props.onError}>
      <p id="delete-warning" class="wrap">
        Delete <strong>{apiKey.name}</strong> from {props.facilityName}? Deletion is immediate and cannot be undone: any system still using this key loses access at once.
      </p>
      <p class="muted wrap">
        Created {plural(apiKey.leadsCreated, 'lead')};{' '}
        {apiKey.lastUsedAt ? `last used ${ago(apiKey.lastUsedAt)}${apiKey.lastUsedIp ? ` from ${apiKey.lastUsedIp}` : ''}.` : 'never used.'}
      </p>
    </ConfirmDialog>
  );
}
