import { useEffect, useRef, useState } from 'preact/hooks';

import { ApiError, call, type WebhookDelivery, type WebhookEndpoint } from '../api.js';
import { formatDateTime, fromNow } from '../format.js';

type Status = WebhookDelivery['status'];

const STATUS_WORDS: Record<Status, string> = { succeeded: 'Delivered', failed: 'Failed', pending: 'Pending' };
const PAGE = 20;
/** While a delivery is on its way, the log looks again this often, this many times (then Refresh does). */
const POLL_MS = 1500;
const POLLS = 40;

/** A delivery whose next attempt is due (or being made): worth looking again soon. */
const due = (delivery: WebhookDelivery) => delivery.status === 'pending' && (delivery.nextAttemptAt === null || Date.parse(delivery.nextAttemptAt) < Date.now() + 10_000);

function AnswerCell(props: { delivery: WebhookDelivery }) {
  const { delivery } = props;
  if (delivery.attempts === 0 && delivery.responseStatus === null) return <>Not sent yet</>;
  return (
    <>
      {delivery.responseStatus === null ? 'No answer' : `HTTP ${delivery.responseStatus}`}
      {delivery.durationMs !== null && <span class="muted block">in {delivery.durationMs} ms</span>}
    </>
  );
}

/** One delivery as a row (stacked into labelled lines on narrow screens). */
function DeliveryRow(props: { delivery: WebhookDelivery; canRetry: boolean; onRetry: () => void }) {
  const { delivery } = props;
  return (
    <tr role="row">
      <td role="cell" data-label="Event">
        {delivery.eventType}
        <code class="hint wrap">{delivery.eventId}</code>
      </td>
      <td role="cell" data-label="Status">
        <span class={`badge badge-${delivery.status}`}>{STATUS_WORDS[delivery.status]}</span>
        {delivery.error && <span class="muted block wrap">{delivery.error}</span>}
      </td>
      <td role="cell" data-label="Attempts">
        {delivery.attempts}
      </td>
      <td role="cell" data-label="Last attempt">
        {delivery.lastAttemptAt ? <time dateTime={delivery.lastAttemptAt}>{formatDateTime(delivery.lastAttemptAt)}</time> : 'None yet'}
      </td>
      <td role="cell" data-label="Response">
        <AnswerCell delivery={delivery} />
      </td>
      <td role="cell" data-label="Next attempt">
        {delivery.status === 'pending' && delivery.nextAttemptAt ? <time dateTime={delivery.nextAttemptAt}>{due(delivery) ? 'Now' : `In ${fromNow(delivery.nextAttemptAt)}`}</time> : '—'}
      </td>
      <td role="cell" data-label="Actions" class="actions">
        {props.canRetry && (
          <button type="button" class="secondary small" aria-label={`Retry ${delivery.eventType} ${delivery.eventId}`} onClick={props.onRetry}>
            Retry
          </button>
        )}
      </td>
    </tr>
  );
}

function DeliveryTable(props: { endpoint: WebhookEndpoint; items: WebhookDelivery[]; onRetry: (delivery: WebhookDelivery) => void }) {
  return (
    <table class="stack" role="table" aria-label={`Deliveries to ${props.endpoint.description ?? props.endpoint.url}, newest first`}>
      <thead>
        <tr role="row">
          {['Event', 'Status', 'Attempts', 'Last attempt', 'Response', 'Next attempt', 'Actions'].map((name) => (
            <th scope="col" role="columnheader" key={name}>
              {name}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.items.map((delivery) => (
          <DeliveryRow key={delivery.id} delivery={delivery} canRetry={props.endpoint.enabled} onRetry={() => props.onRetry(delivery)} />
        ))}
      </tbody>
    </table>
  );
}

/**
 * An endpoint's deliveries, newest first: a filter by status, older pages on
 * demand, Retry on each. While a delivery is due, the log looks again on its
 * own for a while, so a test event is seen arriving. `refresh` changing
 * (after Send test event) loads it again.
 */
export function DeliveriesLog(props: { endpoint: WebhookEndpoint; refresh: number; onError: (error: unknown) => void }) {
  const { endpoint } = props;
  const [status, setStatus] = useState<Status | ''>('');
  const [items, setItems] = useState<WebhookDelivery[]>();
  const [next, setNext] = useState<string | null>(null);
  const [said, setSaid] = useState<string>();
  const polls = useRef(0);
  // Only the latest load's answer is shown (a poll and a new filter may cross).
  const latest = useRef(0);

  const fail = (error: unknown) => {
    if (error instanceof ApiError && [400, 403, 404].includes(error.status)) setSaid(error.message);
    else props.onError(error);
  };
  /** The first page again (as many as are shown, up to 100), or the page after `cursor`. */
  const load = async (cursor?: string) => {
    const ticket = (latest.current += 1);
    try {
      const limit = cursor ? PAGE : Math.min(100, Math.max(PAGE, items?.length ?? 0));
      const page = await call('GET', '/webhook-endpoints/{id}/deliveries', { path: { id: endpoint.id }, query: { limit, cursor, status: status || undefined } });
      if (ticket !== latest.current) return;
      setItems((current) => (cursor ? [...(current ?? []), ...page.items] : page.items));
      setNext(page.nextCursor);
    } catch (error) {
      fail(error);
    }
  };
  const again = () => ((polls.current = 0), void load());
  useEffect(() => {
    setItems(undefined);
    again();
  }, [status, props.refresh]);
  useEffect(() => {
    if (!items?.some(due) || polls.current >= POLLS) return;
    const timer = setTimeout(() => ((polls.current += 1), void load()), POLL_MS);
    return () => clearTimeout(timer);
  }, [items]);

  const retry = async (delivery: WebhookDelivery) => {
    try {
      await call('POST', '/webhook-deliveries/{id}/retry', { path: { id: delivery.id } });
      setSaid(`The ${delivery.eventType} event is being delivered again.`);
      again();
    } catch (error) {
      fail(error);
    }
  };

  return (
    <section class="deliveries" aria-labelledby={`deliveries-${endpoint.id}`}>
      <div class="card-header">
        <h4 id={`deliveries-${endpoint.id}`}>Deliveries</h4>
        <div class="inline-fields">
          <label for={`status-${endpoint.id}`}>Show</label>
          <select id={`status-${endpoint.id}`} value={status} onChange={(event) => setStatus((event.currentTarget as HTMLSelectElement).value as Status | '')}>
            <option value="">All deliveries</option>
            <option value="succeeded">Delivered</option>
            <option value="failed">Failed</option>
            <option value="pending">Pending</option>
          </select>
          <button type="button" class="secondary small" onClick={again}>
            Refresh
          </button>
        </div>
      </div>
      <p class="muted" role="status">
        {said}
      </p>
      {!items && <p aria-live="polite">Loading…</p>}
      {items && items.length === 0 && <p class="empty">{status ? 'No deliveries with this status.' : 'Nothing delivered yet. Send a test event to try the endpoint.'}</p>}
      {items && items.length > 0 && <DeliveryTable endpoint={endpoint} items={items} onRetry={(delivery) => void retry(delivery)} />}
      {next && (
        <button type="button" class="secondary" onClick={() => void load(next)}>
          Show older deliveries
        </button>
      )}
    </section>
  );
}
