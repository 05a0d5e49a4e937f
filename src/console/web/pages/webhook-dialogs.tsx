import { useEffect, useRef, useState } from 'preact/hooks';

import { ApiError, call, goneIsDone, type EndpointWithSecret, type WebhookEndpoint, type WebhookEventChoice } from '../api.js';
import { EveryOrOnly, FormButtons, TextField, type Choice } from '../controls.js';
import { ConfirmDialog, Dialog } from '../dialog.js';
import { ShownOnceDialog } from '../shown-once.js';

type EventType = Exclude<WebhookEventChoice, '*'>;

/** What each event means, in words an Owner reads (typed by the API: a new event type fails the build until it is described here). */
const EVENT_WORDS: Record<EventType, string> = {
  'lead.created': 'A new lead, however it arrived: a landing page, a CRM, or staff.',
  'api_key.expiring': 'An API key expires in 7 days, and again 1 day before.',
  'api_key.revoked': 'An API key was deleted, revoked, or found in public.',
  'webhook.test': 'A test event. Send test event delivers one whatever is ticked here.',
};

const EVENT_CHOICES: Choice<EventType>[] = Object.entries(EVENT_WORDS).map(([value, description]) => ({ value: value as EventType, label: value, description }));

/** An endpoint's name in the console: what staff called it, else its URL. */
export const endpointName = (endpoint: WebhookEndpoint) => endpoint.description ?? endpoint.url;

/** An endpoint's events in words: "Every event", or the types it asks for. */
export const eventsText = (events: string[]) => (events.includes('*') ? 'Every event' : events.join(', '));

type EndpointErrors = { url?: string | undefined; description?: string | undefined; events?: string | undefined; form?: string | undefined };

/** What the API refused, field by field (`events.0` is the events' field); undefined when it is not a refusal to show here. */
function refusal(error: unknown): EndpointErrors | undefined {
  if (!(error instanceof ApiError)) return undefined;
  if (error.status === 403 || error.status === 404) return { form: error.message };
  if (error.status !== 400) return undefined;
  return { url: error.fields.url, description: error.fields.description, events: error.fields.events, form: error.message };
}

type EndpointForm = { url: string; description: string; events: EventType[] | null };

const optionalText = (text: string) => (text.trim() === '' ? null : text);

/** The body of a new endpoint. */
function newEndpoint(form: EndpointForm) {
  const description = optionalText(form.description);
  return { url: form.url.trim(), events: form.events ?? (['*'] as WebhookEventChoice[]), ...(description === null ? {} : { description }) };
}

/** The changes of an edit: only what differs. */
function endpointChanges(before: WebhookEndpoint, form: EndpointForm) {
  const description = optionalText(form.description);
  const events: WebhookEventChoice[] = form.events ?? ['*'];
  return {
    ...(form.url.trim() !== before.url ? { url: form.url.trim() } : {}),
    ...(description !== before.description ? { description } : {}),
    ...(eventsText(events) !== eventsText(before.events) ? { events } : {}),
  };
}

/** The URL and description fields of the endpoint form (focus goes to the URL when it is refused). */
function UrlAndDescription(props: { url: string; onUrl: (url: string) => void; description: string; onDescription: (text: string) => void; errors: EndpointErrors }) {
  const urlInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (props.errors.url) urlInput.current?.focus();
  }, [props.errors]);
  return (
    <>
      <TextField
        id="endpoint-url"
        label="Endpoint URL"
        inputRef={urlInput}
        autofocus
        url
        value={props.url}
        onInput={props.onUrl}
        maxLength={2000}
        placeholder="https://crm.example.com/webhooks/octiv"
        error={props.errors.url}
        hint="Where Octiv sends events: an https address of the system that receives them."
      />
      <TextField
        id="endpoint-description"
        label="Description (optional)"
        value={props.description}
        onInput={props.onDescription}
        maxLength={200}
        placeholder="CRM sync"
        error={props.errors.description}
        hint="Which system this is, as your team will recognise it in the list."
      />
    </>
  );
}

/** Add an endpoint (its secret is then shown once), or change one's URL, description and events. */
export function EndpointDialog(props: {
  endpoint?: WebhookEndpoint;
  onCancel: () => void;
  onCreated: (made: EndpointWithSecret) => void;
  onUpdated: (endpoint: WebhookEndpoint) => void;
  onError: (error: unknown) => void;
}) {
  const before = props.endpoint;
  const [url, setUrl] = useState(before?.url ?? '');
  const [description, setDescription] = useState(before?.description ?? '');
  const [events, setEvents] = useState<EventType[] | null>(before && !before.events.includes('*') ? (before.events as EventType[]) : null);
  const [errors, setErrors] = useState<EndpointErrors>({});
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const local: EndpointErrors = {
      ...(url.trim() === '' ? { url: 'Enter the address that receives the events.' } : {}),
      ...(events?.length === 0 ? { events: 'Choose at least one event, or Every event.' } : {}),
    };
    setErrors(local);
    if (Object.keys(local).length > 0) return;
    setBusy(true);
    try {
      const form = { url, description, events };
      if (!before) props.onCreated(await call('POST', '/webhook-endpoints', { body: newEndpoint(form) }));
      else {
        const body = endpointChanges(before, form);
        if (Object.keys(body).length === 0) props.onCancel();
        else props.onUpdated(await call('PATCH', '/webhook-endpoints/{id}', { path: { id: before.id }, body }));
      }
    } catch (error) {
      const said = refusal(error);
      if (said) setErrors(said);
      else props.onError(error);
    } finally {
      setBusy(false);
    }
  };

  const fieldError = errors.url || errors.description || errors.events;
  return (
    <Dialog title={before ? 'Edit Endpoint' : 'Add Endpoint'} onEscape={props.onCancel}>
      <form onSubmit={submit} noValidate>
        {errors.form && !fieldError && (
          <p class="error" role="alert">
            {errors.form}
          </p>
        )}
        <UrlAndDescription url={url} onUrl={setUrl} description={description} onDescription={setDescription} errors={errors} />
        <EveryOrOnly
          id="events"
          legend="Events"
          every="Every event"
          only="Only these events"
          choices={EVENT_CHOICES}
          chosen={events}
          onChange={setEvents}
          error={errors.events}
          hint="Every event includes those Octiv adds later."
        />
        <FormButtons onCancel={props.onCancel} busy={busy} label={before ? 'Save Changes' : 'Add Endpoint'} busyLabel="Saving…" />
      </form>
    </Dialog>
  );
}

/** A new endpoint's signing secret, or a rotated one's, shown once. */
export function SecretShownOnceDialog(props: { made: EndpointWithSecret; rotated: boolean; onDone: () => void }) {
  return (
    <ShownOnceDialog
      title={props.rotated ? 'Signing Secret Rotated' : 'Endpoint Added'}
      id="new-secret"
      intro={
        <>
          This is the only time the signing secret of <strong>{endpointName(props.made)}</strong> is shown. Put it in the webhook settings of the system that
          receives the events: with it, that system checks that each delivery really comes from Octiv.
          {props.rotated && ' The old secret keeps signing deliveries for 24 hours, so nothing is refused while you switch.'}
        </>
      }
      label="Signing secret"
      secret={props.made.secret}
      stored="I have copied the signing secret and stored it securely"
      onDone={props.onDone}
    >
      <p class="muted">
        Each delivery carries the headers <code>webhook-id</code>, <code>webhook-timestamp</code> and <code>webhook-signature</code>, as the Standard Webhooks
        specification says: any Standard Webhooks library verifies them with this secret.
      </p>
    </ShownOnceDialog>
  );
}

/** Rotate: say what happens (both secrets sign for 24 hours), then the new one is shown once. */
export function RotateSecretDialog(props: { endpoint: WebhookEndpoint; onCancel: () => void; onRotated: (made: EndpointWithSecret) => void; onError: (error: unknown) => void }) {
  return (
    <ConfirmDialog
      title="Rotate Signing Secret"
      describedBy="rotate-secret-what"
      action="Rotate Secret"
      busyAction="Rotating…"
      onConfirm={async () => props.onRotated(await call('POST', '/webhook-endpoints/{id}/rotate-secret', { path: { id: props.endpoint.id } }))}
      onCancel={props.onCancel}
      onError={props.onError}
    >
      <p id="rotate-secret-what" class="wrap">
        Rotating makes a new signing secret for <strong>{endpointName(props.endpoint)}</strong>, shown once. For 24 hours every delivery is signed with both the
        old and the new secret, so the receiving system keeps accepting deliveries while you put the new secret in its settings. After that, only the new one
        signs.
      </p>
    </ConfirmDialog>
  );
}

/** Delete, after a confirmation that says what goes with it (an endpoint already gone is what was asked). */
export function DeleteEndpointDialog(props: { endpoint: WebhookEndpoint; onCancel: () => void; onDeleted: () => void; onError: (error: unknown) => void }) {
  const remove = async () => {
    await call('DELETE', '/webhook-endpoints/{id}', { path: { id: props.endpoint.id } }).catch(goneIsDone);
    props.onDeleted();
  };
  return (
    <ConfirmDialog
      title="Delete Endpoint"
      describedBy="delete-endpoint-warning"
      action="Delete Endpoint"
      busyAction="Deleting…"
      danger
      onConfirm={remove}
      onCancel={props.onCancel}
      onError={props.onError}
    >
      <p id="delete-endpoint-warning" class="wrap">
        Delete <strong>{endpointName(props.endpoint)}</strong>? No more events are sent to <code class="wrap">{props.endpoint.url}</code>, and its deliveries log
        is deleted with it. This cannot be undone.
      </p>
    </ConfirmDialog>
  );
}
