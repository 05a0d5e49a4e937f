import { useEffect, useState } from 'preact/hooks';

import { ApiError, call, type ApiKey, type CreatedKey, type FacilityLocation, type Me, type UsageDay } from '../api.js';
import { ago, formatDateTime, formatDay, fromNow, perWindow, plural } from '../format.js';
import { locationsText } from '../labels.js';
import { ACTIVITY, SI_PATH } from '../paths.js';
import { UsageChart, reasonTotals } from '../usage-chart.js';
import { DeleteKeyDialog, KeyShownOnceDialog, RotateKeyDialog } from './key-dialogs.js';


/** The days the key page shows. */
const DAYS = 30;

/** What each kind of refusal means for the gym, in one plain sentence: how many, the last day, and what to do. */
const REFUSAL_WORDS: Record<string, (requests: string, last: string) => string> = {
  rotated_out: (n, last) => `${n} with the secret replaced by a rotation, the last on ${last} — the system is still using the old key. Give it the new one.`,
  expired: (n, last) => `${n} after the key expired, the last on ${last} — the system needs a new key.`,
  revoked: (n, last) => `${n} after the key was revoked, the last on ${last} — the system needs a new key.`,
  deleted: (n, last) => `${n} after the key was deleted, the last on ${last} — the system needs a new key.`,
  insufficient_scope: (n, last) => `${n} for something this key may not do, the last on ${last} — the system needs a key with the scope it uses (for example leads:read to read leads).`,
  location_not_allowed: (n, last) => `${n} for a location this key is not for, the last on ${last} — check which location the system sends.`,
  location_required: (n, last) => `${n} without a location, the last on ${last} — this key is for several locations, so the system must say which one.`,
  rate_limited: (n, last) => `${n} over the key's rate limit, the last on ${last} — the system sends faster than the key allows. Ask its maker to slow down, or give the key a higher limit.`,
  unknown: (n, last) => `${n} with a secret of this key that is no longer stored, the last on ${last} — the system needs a new key.`,
  invalid: (n, last) => `${n} with a secret of this key that is no longer valid, the last on ${last} — the system needs a new key.`,
  wrong_audience: (n, last) => `${n} with this key to another API, the last on ${last} — check the address the system sends to.`,
};

/** The refused requests of the days, one sentence per reason (or that there were none). */
function RefusalsInWords(props: { days: UsageDay[] }) {
  const reasons = reasonTotals(props.days);
  if (reasons.length === 0) return <p>No requests with this key were refused in the last {plural(props.days.length, 'day')}.</p>;
  const lastDay = (reason: string) => [...props.days].reverse().find((day) => (day.refused[reason] ?? 0) > 0)!.date;
  return (
    <ul class="refusals">
      {reasons.map(([reason, count]) => {
        const words = REFUSAL_WORDS[reason] ?? ((n: string, last: string) => `${n} refused (${reason}), the last on ${last}.`);
        return <li key={reason}>{words(plural(count, 'request'), formatDay(lastDay(reason)))}</li>;
      })}
    </ul>
  );
}

/** The key in facts: what it may do, who made it, when it was last used, how long it lives. */
function KeyFacts(props: { apiKey: ApiKey; locations: FacilityLocation[] }) {
  const { apiKey } = props;
  return (
    <dl class="facts">
      <dt>Key</dt>
      <dd>
        <code>{apiKey.hint ?? '—'}</code>
      </dd>
      <dt>Scopes</dt>
      <dd>{apiKey.scopes.join(', ')}</dd>
      <dt>Locations</dt>
      <dd class="wrap">{locationsText(apiKey, props.locations)}</dd>
      <dt>Created</dt>
      <dd>
        {formatDateTime(apiKey.createdAt)} by {apiKey.createdBy.name}
      </dd>
      <dt>Last used</dt>
      <dd class="wrap">{apiKey.lastUsedAt ? `${ago(apiKey.lastUsedAt)}${apiKey.lastUsedIp ? ` from ${apiKey.lastUsedIp}` : ''}` : 'Never'}</dd>
      <dt>Leads created</dt>
      <dd>{plural(apiKey.leadsCreated, 'lead')} in all</dd>
      <dt>Expires</dt>
      <dd>{apiKey.expiresAt ? formatDateTime(apiKey.expiresAt) : 'Never'}</dd>
      <dt>Rate limit</dt>
      <dd>
        {plural(apiKey.rateLimit.limit, 'request')} a {perWindow(apiKey.rateLimit.windowSeconds)}
      </dd>
    </dl>
  );
}

/** During a rotation: when the old key stops, and when it was last used (so the Owner sees it go quiet). */
function RotationCard(props: { apiKey: ApiKey; onEndGrace: () => void }) {
  const rotation = props.apiKey.rotation;
  if (!rotation) return null;
  return (
    <section class="card" aria-labelledby="rotation-title">
      <h2 id="rotation-title">Rotation in progress</h2>
      <p>
        The old key keeps working until {formatDateTime(rotation.previousExpiresAt)} (in {fromNow(rotation.previousExpiresAt)}).{' '}
        {rotation.previousLastUsedAt
          ? `It was last used ${ago(rotation.previousLastUsedAt)} (${formatDateTime(rotation.previousLastUsedAt)}).`
          : 'It has not been used since it was replaced.'}
      </p>
      <p class="muted">Once the system uses the new key and the old one has gone quiet, you can stop the old key now.</p>
      <button type="button" class="secondary small" onClick={props.onEndGrace}>
        End grace period now
      </button>
    </section>
  );
}

/** The key's last 30 days: the chart, then its refusals in words. */
function UsageCard(props: { apiKey: ApiKey; days: UsageDay[] | undefined }) {
  return (
    <section class="card" aria-labelledby="usage-title">
      <h2 id="usage-title">The last {DAYS} days</h2>
      {!props.days && <p aria-live="polite">Loading…</p>}
      {props.days && <UsageChart keyName={props.apiKey.name} days={props.days} />}
      {props.days && (
        <>
          <h3>Refused requests</h3>
          <RefusalsInWords days={props.days} />
        </>
      )}
    </section>
  );
}

/** Breadcrumb, the key's name and its status. */
function KeyHeading(props: { apiKey: ApiKey | undefined; navigate: (to: string) => void }) {
  return (
    <>
      <p class="breadcrumb">
        <a href={SI_PATH} onClick={(event) => (event.preventDefault(), props.navigate(SI_PATH))}>
          System Integrations
        </a>{' '}
        ›
      </p>
      <h1 id="key-title" tabIndex={-1} class="wrap">
        {props.apiKey?.name ?? 'API key'}
      </h1>
    </>
  );
}

type KeyDialog = { kind: 'rotate' } | { kind: 'shown'; created: CreatedKey } | { kind: 'delete' };

/** The key's actions: rotate, its history, delete (each through its dialog). */
function KeyActions(props: { apiKey: ApiKey; navigate: (to: string) => void; open: (dialog: KeyDialog) => void }) {
  const { apiKey } = props;
  const history = `${ACTIVITY}?keyId=${apiKey.id}`;
  return (
    <p class="key-actions">
      {(apiKey.status === 'active' || apiKey.status === 'rotating') && (
        <button type="button" class="secondary small" onClick={() => props.open({ kind: 'rotate' })}>
          Rotate
        </button>
      )}
      <a href={history} onClick={(event) => (event.preventDefault(), props.navigate(history))}>
        History
      </a>
      <button type="button" class="danger small" onClick={() => props.open({ kind: 'delete' })}>
        Delete
      </button>
    </p>
  );
}

/** The dialog open on the key page, if any. */
function KeyPageDialog(props: { dialog: KeyDialog | undefined; apiKey: ApiKey; facilityName: string; close: (reload: boolean) => void; open: (dialog: KeyDialog) => void; onDeleted: () => void; onError: (error: unknown) => void }) {
  const { dialog, apiKey } = props;
  if (dialog?.kind === 'rotate') {
    return <RotateKeyDialog apiKey={apiKey} onCancel={() => props.close(false)} onError={props.onError} onRotated={(created) => props.open({ kind: 'shown', created })} />;
  }
  if (dialog?.kind === 'shown') return <KeyShownOnceDialog title="API Key Rotated" created={dialog.created} onDone={() => props.close(true)} />;
  if (dialog?.kind === 'delete') {
    return <DeleteKeyDialog apiKey={apiKey} facilityName={props.facilityName} onCancel={() => props.close(false)} onError={props.onError} onDeleted={props.onDeleted} />;
  }
  return null;
}

/** A key's own page: what it is, how it was used day by day, why requests were refused, and what can be done to it. */
export function KeyPage(props: { keyId: string; me: Me; navigate: (to: string) => void; onError: (error: unknown) => void }) {
  const [apiKey, setApiKey] = useState<ApiKey>();
  const [days, setDays] = useState<UsageDay[]>();
  const [locations, setLocations] = useState<FacilityLocation[]>([]);
  const [missing, setMissing] = useState(false);
  const [dialog, setDialog] = useState<KeyDialog>();
  const path = { id: props.keyId };

  const load = async () => {
    try {
      const [key, usage, places] = await Promise.all([
        call('GET', '/api-keys/{id}', { path }),
        call('GET', '/api-keys/{id}/usage', { path, query: { days: DAYS } }),
        call('GET', '/locations'),
      ]);
      setApiKey(key);
      setDays(usage.days);
      setLocations(places.items);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) setMissing(true);
      else props.onError(error);
    }
  };
  useEffect(() => {
    void load();
  }, [props.keyId]);
  const endGrace = () =>
    call('DELETE', '/api-keys/{id}/previous', { path }).then(load, (error: unknown) => (error instanceof ApiError && error.status === 404 ? load() : props.onError(error)));

  return (
    <section aria-labelledby="key-title">
      <KeyHeading apiKey={apiKey} navigate={props.navigate} />
      {missing && <p class="notice">There is no such key: it was deleted, or it belongs to another facility.</p>}
      {!apiKey && !missing && <p aria-live="polite">Loading…</p>}
      {apiKey && (
        <>
          {apiKey.status !== 'active' && <p class={`badge badge-${apiKey.status}`}>{apiKey.status === 'rotating' ? 'Rotating' : `This key is ${apiKey.status}`}</p>}
          <KeyFacts apiKey={apiKey} locations={locations} />
          <KeyActions apiKey={apiKey} navigate={props.navigate} open={setDialog} />
          <RotationCard apiKey={apiKey} onEndGrace={() => void endGrace()} />
          <UsageCard apiKey={apiKey} days={days} />
          <KeyPageDialog
            dialog={dialog}
            apiKey={apiKey}
            facilityName={props.me.facilityName}
            open={setDialog}
            close={(reload) => (setDialog(undefined), reload && void load())}
            onDeleted={() => props.navigate(SI_PATH)}
            onError={(error) => (setDialog(undefined), props.onError(error))}
          />
        </>
      )}
    </section>
  );
}
