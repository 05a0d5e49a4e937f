import { useEffect, useRef, useState } from 'preact/hooks';

import { ApiError, call, type EndpointWithSecret, type WebhookEndpoint } from '../api.js';
import { Messages } from '../controls.js';
import { formatDateTime, plural } from '../format.js';
import { SI_PATH, WEBHOOKS } from '../paths.js';
import { DeliveriesLog } from './webhook-deliveries.js';
import { DeleteEndpointDialog, EndpointDialog, endpointName, eventsText, RotateSecretDialog, SecretShownOnceDialog } from './webhook-dialogs.js';


type Navigate = (to: string) => void;

function PageLink(props: { to: string; navigate: Navigate; children: string }) {
  return (
    <a href={props.to} onClick={(event) => (event.preventDefault(), props.navigate(props.to))}>
      {props.children}
    </a>
  );
}

/** Endpoints the server turned off (every delivery failed for days): said on System Integrations (each endpoint's card says it too). */
function TurnedOffNotice(props: { endpoints: WebhookEndpoint[] }) {
  const off = props.endpoints.filter((endpoint) => !endpoint.enabled && endpoint.disabledReason);
  if (off.length === 0) return null;
  return (
    <div class="notice compact" role="status">
      {off.map((endpoint) => (
        <p key={endpoint.id} class="wrap">
          Octiv turned off the webhook endpoint <strong>{endpointName(endpoint)}</strong>. {endpoint.disabledReason}
        </p>
      ))}
    </div>
  );
}

/** System Integrations' Webhooks card: how many endpoints, any the server turned off, and the way to the Webhooks page. */
export function WebhooksCard(props: { navigate: Navigate }) {
  const [endpoints, setEndpoints] = useState<WebhookEndpoint[]>();
  useEffect(() => {
    // The card is a signpost: if the list cannot be read, the link still leads to the page that says why.
    call('GET', '/webhook-endpoints').then((list) => setEndpoints(list.items), () => undefined);
  }, []);
  const off = endpoints?.filter((endpoint) => !endpoint.enabled).length ?? 0;
  return (
    <div class="card">
      <div class="card-header">
        <h2>Webhooks</h2>
        <PageLink to={WEBHOOKS} navigate={props.navigate}>
          Manage webhooks
        </PageLink>
      </div>
      <p class="muted">Webhooks tell your other systems the moment something happens: a new lead, an API key about to expire, a key revoked.</p>
      {endpoints && (
        <p>
          {endpoints.length === 0 ? 'No endpoints yet.' : plural(endpoints.length, 'endpoint')}
          {off > 0 && `, ${off} turned off`}
        </p>
      )}
      {endpoints && <TurnedOffNotice endpoints={endpoints} />}
    </div>
  );
}

type EndpointActions = {
  onEdit: () => void;
  onToggle: () => void;
  onRotate: () => void;
  onDelete: () => void;
  onTest: () => Promise<boolean>;
  onError: (error: unknown) => void;
};

/** One endpoint: what it receives, its state, its actions and (on demand) its deliveries log. */
function EndpointCard(props: { endpoint: WebhookEndpoint } & EndpointActions) {
  const { endpoint } = props;
  const name = endpointName(endpoint);
  const [open, setOpen] = useState(false);
  const [refresh, setRefresh] = useState(0);
  const test = async () => {
    if (await props.onTest()) (setOpen(true), setRefresh((count) => count + 1));
  };
  return (
    <article class="card endpoint" aria-labelledby={`endpoint-${endpoint.id}`}>
      <div class="card-header">
        <h3 id={`endpoint-${endpoint.id}`} class="wrap">
          {name}
        </h3>
        <span class={endpoint.enabled ? 'badge badge-succeeded' : 'badge badge-failed'}>{endpoint.enabled ? 'On' : 'Turned off'}</span>
      </div>
      {endpoint.disabledReason && (
        <p class="notice wrap">
          Octiv turned this endpoint off. {endpoint.disabledReason}
        </p>
      )}
      <dl class="facts">
        <dt>URL</dt>
        <dd class="wrap">
          <code>{endpoint.url}</code>
        </dd>
        <dt>Events</dt>
        <dd class="wrap">{eventsText(endpoint.events)}</dd>
        <dt>Signing secret</dt>
        <dd>
          {endpoint.secretHint ? (
            <>
              ends in <code>{endpoint.secretHint}</code>
            </>
          ) : (
            'none'
          )}
        </dd>
        <dt>Added</dt>
        <dd>
          <time dateTime={endpoint.createdAt}>{formatDateTime(endpoint.createdAt)}</time>
          {endpoint.createdBy && ` by ${endpoint.createdBy.name}`}
        </dd>
      </dl>
      <EndpointButtons endpoint={endpoint} name={name} open={open} onOpen={() => setOpen(!open)} onTest={() => void test()} actions={props} />
      {open && <DeliveriesLog endpoint={endpoint} refresh={refresh} onError={props.onError} />}
    </article>
  );
}

function EndpointButtons(props: { endpoint: WebhookEndpoint; name: string; open: boolean; onOpen: () => void; onTest: () => void; actions: EndpointActions }) {
  const { endpoint, name, actions } = props;
  return (
    <div class="buttons start">
      {endpoint.enabled && (
        <button type="button" class="secondary small" aria-label={`Send test event to ${name}`} onClick={props.onTest}>
          Send test event
        </button>
      )}
      <button type="button" class="secondary small" aria-expanded={props.open} aria-label={`Deliveries of ${name}`} onClick={props.onOpen}>
        <span aria-hidden="true">{props.open ? '▾ ' : '▸ '}</span>
        Deliveries
      </button>
      <button type="button" class="secondary small" aria-label={`Edit ${name}`} onClick={actions.onEdit}>
        Edit
      </button>
      <button type="button" class="secondary small" aria-label={`${endpoint.enabled ? 'Turn off' : 'Turn on'} ${name}`} onClick={actions.onToggle}>
        {endpoint.enabled ? 'Turn off' : 'Turn on'}
      </button>
      <button type="button" class="secondary small" aria-label={`Rotate secret of ${name}`} onClick={actions.onRotate}>
        Rotate secret
      </button>
      <button type="button" class="secondary small danger-text" aria-label={`Delete ${name}`} onClick={actions.onDelete}>
        Delete
      </button>
    </div>
  );
}

type DialogState =
  | { kind: 'add' }
  | { kind: 'edit'; endpoint: WebhookEndpoint }
  | { kind: 'shown'; made: EndpointWithSecret; rotated: boolean }
  | { kind: 'rotate'; endpoint: WebhookEndpoint }
  | { kind: 'delete'; endpoint: WebhookEndpoint };

function PageHeading(props: { navigate: Navigate }) {
  return (
    <>
      <p class="breadcrumb">
        <PageLink to={SI_PATH} navigate={props.navigate}>
          System Integrations
        </PageLink>{' '}
        ›
      </p>
      <h1 id="webhooks-title" tabIndex={-1}>
        Webhooks
      </h1>
      <p class="muted">
        An endpoint is an address of one of your systems (a CRM, an automation tool) where Octiv sends events as they happen, each signed with the endpoint&apos;s
        secret. A delivery that fails is tried again several times; an endpoint whose deliveries all fail for 5 days is turned off.
      </p>
    </>
  );
}

/** The open dialog of the page, if any: add or edit, the once-shown secret, rotate, delete. */
function WebhookDialogs(props: {
  dialog: DialogState | undefined;
  onClose: () => void;
  onShown: (made: EndpointWithSecret, rotated: boolean) => void;
  onSaved: (endpoint: WebhookEndpoint, notice: string) => void;
  onDeleted: (endpoint: WebhookEndpoint) => void;
  onError: (error: unknown) => void;
}) {
  const { dialog, onClose, onError } = props;
  if (!dialog) return null;
  switch (dialog.kind) {
    case 'add':
    case 'edit':
      return (
        <EndpointDialog
          endpoint={dialog.kind === 'edit' ? dialog.endpoint : undefined}
          onCancel={onClose}
          onError={onError}
          onCreated={(made) => props.onShown(made, false)}
          onUpdated={(endpoint) => props.onSaved(endpoint, `Your changes to ${endpointName(endpoint)} are saved.`)}
        />
      );
    case 'shown':
      return (
        <SecretShownOnceDialog
          made={dialog.made}
          rotated={dialog.rotated}
          onDone={() => {
            // The secret leaves the page (and our state) here, for good.
            const { secret: _secret, ...endpoint } = dialog.made;
            props.onSaved(endpoint, dialog.rotated ? `${endpointName(endpoint)} has a new signing secret; the old one signs too for 24 hours.` : `${endpointName(endpoint)} is ready. Send a test event to try it.`);
          }}
        />
      );
    case 'rotate':
      return <RotateSecretDialog endpoint={dialog.endpoint} onCancel={onClose} onError={onError} onRotated={(made) => props.onShown(made, true)} />;
    case 'delete':
      return <DeleteEndpointDialog endpoint={dialog.endpoint} onCancel={onClose} onError={onError} onDeleted={() => props.onDeleted(dialog.endpoint)} />;
  }
}

/** Settings > System Integrations > Webhooks: the facility's endpoints, their secrets, test events and deliveries. */
export function Webhooks(props: { navigate: Navigate; onError: (error: unknown) => void }) {
  const [endpoints, setEndpoints] = useState<WebhookEndpoint[]>();
  const [problem, setProblem] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [dialog, setDialog] = useState<DialogState>();
  const addButton = useRef<HTMLButtonElement>(null);

  const fail = (error: unknown) => {
    setDialog(undefined);
    if (error instanceof ApiError && [403, 404].includes(error.status)) setProblem(error.message);
    else props.onError(error);
  };
  const load = () => call('GET', '/webhook-endpoints').then((list) => (setEndpoints(list.items), setProblem(undefined)), fail);
  useEffect(() => void load(), []);
  const open = (next: DialogState) => (setNotice(undefined), setDialog(next));
  /** The list with this endpoint as it is now (newest first, as the API lists them). */
  const upsert = (endpoint: WebhookEndpoint) =>
    setEndpoints((current) => [endpoint, ...(current ?? []).filter((item) => item.id !== endpoint.id)].sort((a, b) => b.createdAt.localeCompare(a.createdAt)));
  const saved = (endpoint: WebhookEndpoint, said: string) => (upsert(endpoint), setNotice(said), setDialog(undefined));
  const toggle = async (endpoint: WebhookEndpoint) => {
    try {
      const changed = await call('PATCH', '/webhook-endpoints/{id}', { path: { id: endpoint.id }, body: { enabled: !endpoint.enabled } });
      saved(changed, changed.enabled ? `${endpointName(changed)} is on again.` : `${endpointName(changed)} is turned off: no events are sent to it until you turn it on again.`);
    } catch (error) {
      fail(error);
    }
  };
  const test = async (endpoint: WebhookEndpoint) => {
    try {
      await call('POST', '/webhook-endpoints/{id}/test', { path: { id: endpoint.id } });
      setNotice(`A test event is on its way to ${endpointName(endpoint)}. Its delivery shows in the log below.`);
      return true;
    } catch (error) {
      fail(error);
      return false;
    }
  };
  return (
    <section aria-labelledby="webhooks-title">
      <PageHeading navigate={props.navigate} />
      <Messages problem={problem} notice={notice} />
      {!problem && (
        <div class="card-header page-actions">
          <h2>Endpoints</h2>
          <button type="button" ref={addButton} disabled={!endpoints} onClick={() => open({ kind: 'add' })}>
            Add Endpoint
          </button>
        </div>
      )}
      {!endpoints && !problem && <p aria-live="polite">Loading…</p>}
      {endpoints?.length === 0 && <p class="empty">No endpoints yet. Add one for each system that should hear about new leads or keys.</p>}
      {endpoints?.map((endpoint) => (
        <EndpointCard
          key={endpoint.id}
          endpoint={endpoint}
          onEdit={() => open({ kind: 'edit', endpoint })}
          onToggle={() => void toggle(endpoint)}
          onRotate={() => open({ kind: 'rotate', endpoint })}
          onDelete={() => open({ kind: 'delete', endpoint })}
          onTest={() => test(endpoint)}
          onError={props.onError}
        />
      ))}
      <WebhookDialogs
        dialog={dialog}
        onClose={() => setDialog(undefined)}
        onShown={(made, rotated) => {
          const { secret: _secret, ...endpoint } = made;
          upsert(endpoint);
          setDialog({ kind: 'shown', made, rotated });
        }}
        onSaved={saved}
        onError={fail}
        onDeleted={(endpoint) => {
          setEndpoints((current) => current?.filter((item) => item.id !== endpoint.id));
          setNotice(`${endpointName(endpoint)} was deleted. No more events are sent to it.`);
          setDialog(undefined);
          requestAnimationFrame(() => addButton.current?.focus());
        }}
      />
    </section>
  );
}
