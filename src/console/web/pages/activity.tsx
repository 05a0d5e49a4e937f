import { useEffect, useState } from 'preact/hooks';

import { ApiError, call, downloadCsv, type ApiKey, type AuditEvent, type AuditQuery } from '../api.js';
import { formatDateTime } from '../format.js';

const ACTIONS: [AuditEvent['action'], string][] = [
  ['api_key.created', 'Key created'],
  ['api_key.rotated', 'Key rotated'],
  ['api_key.previous_revoked', 'Grace period ended'],
  ['api_key.deleted', 'Key deleted'],
  ['api_key.revoked', 'Key revoked'],
  ['api_key.revoked_leaked', 'Key revoked as leaked'],
  ['api_key.first_used_from_ip', 'Key used from a new address'],
  ['staff.permission_granted', 'Permission given'],
  ['staff.permission_revoked', 'Permission taken away'],
  ['staff.signed_in', 'Signed in'],
  ['staff.sign_in_failed', 'Failed sign-in'],
  ['settings.api_keys_changed', 'Key settings changed'],
  ['facility.created', 'Facility created'],
  ['staff.added', 'Staff member added'],
  ['webhook_endpoint.created', 'Webhook endpoint added'],
  ['webhook_endpoint.updated', 'Webhook endpoint changed'],
  ['webhook_endpoint.secret_rotated', 'Webhook secret rotated'],
  ['webhook_endpoint.deleted', 'Webhook endpoint deleted'],
  ['webhook_endpoint.disabled', 'Webhook endpoint turned off by Octiv'],
];

function actorName(event: AuditEvent): string {
  if (event.actor.type === 'staff') return event.actor.name ?? 'A staff member';
  if (event.actor.type === 'operator') return `The operator${event.actor.name ? ` (${event.actor.name})` : ''}`;
  return event.actor.type === 'secret-scanning' ? 'Secret scanning' : 'The system';
}

const quoted = (name: string | undefined) => `“${name ?? 'a key'}”`;

/** A change to a webhook endpoint in plain words. */
function describeWebhook(event: AuditEvent, actor: string): string {
  const endpoint = `the webhook endpoint ${quoted(event.target?.name)}`;
  const after = event.details.after as { enabled?: boolean } | undefined;
  switch (event.action) {
    case 'webhook_endpoint.created':
      return `${actor} added ${endpoint}`;
    case 'webhook_endpoint.updated':
      return after?.enabled === false ? `${actor} turned off ${endpoint}` : after?.enabled === true ? `${actor} turned on ${endpoint}` : `${actor} changed ${endpoint}`;
    case 'webhook_endpoint.secret_rotated':
      return `${actor} rotated the signing secret of ${endpoint}; the old one signs too for 24 hours`;
    case 'webhook_endpoint.deleted':
      return `${actor} deleted ${endpoint}`;
    default:
      return `Octiv turned off ${endpoint}. ${typeof event.details.reason === 'string' ? event.details.reason : ''}`.trim();
  }
}

/** One event in plain words. */
export function describe(event: AuditEvent): string {
  const actor = actorName(event);
  const target = event.target?.name;
  const details = event.details;
  switch (event.action) {
    case 'api_key.created':
      return `${actor} created the key ${quoted(target)}`;
    case 'api_key.rotated':
      return `${actor} rotated the key ${quoted(target)}${details.graceSeconds === 0 ? '; the old key stopped at once' : typeof details.previousExpiresAt === 'string' ? `; the old key works until ${formatDateTime(details.previousExpiresAt)}` : ''}`;
    case 'api_key.previous_revoked':
      return `${actor} ended the grace period of the key ${quoted(target)}: its old key stopped working`;
    case 'api_key.deleted':
      return `${actor} deleted the key ${quoted(target)}`;
    case 'api_key.revoked':
      return `${actor} revoked the key ${quoted(target)}${typeof details.reason === 'string' ? `: ${details.reason}` : ''}`;
    case 'api_key.revoked_leaked':
      return `Secret scanning found the key ${quoted(target)} in public${typeof details.url === 'string' ? ` at ${details.url}` : ''} and revoked it`;
    case 'api_key.first_used_from_ip':
      return `The key ${quoted(target)} was used from ${String(details.ip ?? event.ip)} for the first time`;
    case 'staff.permission_granted':
      return `${actor} gave System Integrations to ${target ?? 'a staff member'}`;
    case 'staff.permission_revoked':
      return `${actor} took System Integrations away from ${target ?? 'a staff member'}`;
    case 'staff.signed_in':
      return `${target ?? actor} signed in`;
    case 'staff.sign_in_failed':
      return `Failed sign-in for ${typeof details.email === 'string' ? details.email : 'an unknown email'}`;
    case 'settings.api_keys_changed': {
      const before = (details.before as { maxLifetimeDays?: number | null } | undefined)?.maxLifetimeDays;
      const after = (details.after as { maxLifetimeDays?: number | null } | undefined)?.maxLifetimeDays;
      const days = (value: number | null | undefined) => (value == null ? 'none' : `${value} days`);
      return `${actor} changed the key settings (maximum lifetime ${days(before)} → ${days(after)})`;
    }
    case 'facility.created':
      return `${actor} created the facility ${target ?? ''}`.trim();
    case 'staff.added':
      return `${actor} added ${target ?? 'a staff member'}${typeof details.role === 'string' ? ` as ${details.role.replace('_', ' ')}` : ''}`;
    default:
      return event.action.startsWith('webhook_endpoint.') ? describeWebhook(event, actor) : `${actor}: ${event.action}`;
  }
}

/** Events in a row that say the same thing (three failed sign-ins for one email) read as one line with a count. */
function grouped(events: AuditEvent[]): { event: AuditEvent; count: number }[] {
  const lines: { event: AuditEvent; count: number }[] = [];
  for (const event of events) {
    const last = lines[lines.length - 1];
    if (last && event.action === 'staff.sign_in_failed' && last.event.action === event.action && last.event.target?.id === event.target?.id) last.count += 1;
    else lines.push({ event, count: 1 });
  }
  return lines;
}

function line(entry: { event: AuditEvent; count: number }): string {
  if (entry.count > 1 && entry.event.action === 'staff.sign_in_failed') {
    return `${entry.count} failed sign-ins for ${typeof entry.event.details.email === 'string' ? entry.event.details.email : 'an unknown email'}`;
  }
  return describe(entry.event);
}

/** Settings > System Integrations > Activity: the facility's audit log in plain words. */
export function Activity(props: { navigate: (to: string) => void; onError: (error: unknown) => void }) {
  const params = new URLSearchParams(window.location.search);
  const [keyId, setKeyId] = useState(params.get('keyId') ?? '');
  const [action, setAction] = useState<AuditEvent['action'] | ''>('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [events, setEvents] = useState<AuditEvent[]>();
  const [next, setNext] = useState<string | null>(null);
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [problem, setProblem] = useState<string>();

  const query = (cursor?: string, limit = 50): AuditQuery => ({
    limit,
    keyId: keyId || undefined,
    action: action || undefined,
    since: since ? new Date(`${since}T00:00:00`).toISOString() : undefined,
    until: until ? new Date(`${until}T23:59:59.999`).toISOString() : undefined,
    cursor,
  });
  const fail = (error: unknown) => {
    if (error instanceof ApiError && (error.status === 403 || error.status === 400)) setProblem(error.message);
    else props.onError(error);
  };
  const load = async (cursor?: string) => {
    try {
      const page = await call('GET', '/audit-events', { query: query(cursor) });
      setEvents((current) => (cursor ? [...(current ?? []), ...page.items] : page.items));
      setNext(page.nextCursor);
      setProblem(undefined);
    } catch (error) {
      fail(error);
    }
  };
  useEffect(() => {
    void load();
  }, [keyId, action, since, until]);
  useEffect(() => {
    call('GET', '/api-keys').then((list) => setKeys(list.items), () => undefined);
  }, []);

  const back = '/console/settings/system-integrations';
  return (
    <section aria-labelledby="activity-title">
      <p class="breadcrumb">
        <a href={back} onClick={(event) => (event.preventDefault(), props.navigate(back))}>
          System Integrations
        </a>{' '}
        ›
      </p>
      <h1 id="activity-title" tabIndex={-1}>
        Activity
      </h1>
      <p class="muted">Who created, rotated and deleted keys, who changed webhook endpoints, who was given the permission, and every sign-in, newest first.</p>
      <form class="filters card" onSubmit={(event) => event.preventDefault()}>
        <div>
          <label for="filter-key">Key</label>
          <select id="filter-key" value={keyId} onChange={(event) => setKeyId((event.currentTarget as HTMLSelectElement).value)}>
            <option value="">All keys and events</option>
            {keyId && !keys.some((apiKey) => apiKey.id === keyId) && <option value={keyId}>This key</option>}
            {keys.map((apiKey) => (
              <option key={apiKey.id} value={apiKey.id}>
                {apiKey.name}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="filter-action">What</label>
          <select id="filter-action" value={action} onChange={(event) => setAction((event.currentTarget as HTMLSelectElement).value as AuditEvent['action'] | '')}>
            <option value="">Everything</option>
            {ACTIONS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="filter-since">From</label>
          <input type="date" id="filter-since" value={since} onInput={(event) => setSince((event.currentTarget as HTMLInputElement).value)} />
        </div>
        <div>
          <label for="filter-until">To</label>
          <input type="date" id="filter-until" value={until} onInput={(event) => setUntil((event.currentTarget as HTMLInputElement).value)} />
        </div>
        <div class="filters-action">
          <button type="button" class="secondary" onClick={() => void downloadCsv('/audit-events', query(undefined, 200), 'activity.csv').catch(fail)}>
            Download CSV
          </button>
        </div>
      </form>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {!events && !problem && <p aria-live="polite">Loading…</p>}
      {events && events.length === 0 && <p class="empty">Nothing here yet.</p>}
      {events && events.length > 0 && (
        <ol class="events card" aria-label="Events, newest first">
          {grouped(events).map((entry) => (
            <li key={entry.event.id}>
              <span class="wrap">{line(entry)}</span>
              <span class="muted block">
                <time dateTime={entry.event.occurredAt}>{formatDateTime(entry.event.occurredAt)}</time>
                {entry.event.ip ? ` · from ${entry.event.ip}` : ''}
              </span>
            </li>
          ))}
        </ol>
      )}
      {next && (
        <button type="button" class="secondary" onClick={() => void load(next)}>
          Show older events
        </button>
      )}
    </section>
  );
}
