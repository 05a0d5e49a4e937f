import { randomBytes, randomUUID } from 'node:crypto';

import type { Knex } from 'knex';

import type { RequestOrigin } from '../audit/model.js';
import { staffActor, type AuditLog } from '../audit/service.js';
import { inTransaction } from '../db/transaction.js';
import { conflict, notFound, validationFailed } from '../http/errors.js';
import { decodeKeysetCursor, keysetPage } from '../http/keyset-cursor.js';
import { seal } from '../shared/sealed.js';
import type { StaffMember } from '../staff/model.js';
import { resolveTarget, urlProblem, type AddressRule } from './addresses.js';
import type { DeliveryStatus, StoredSecret, WebhookEndpoint, WebhookEventType, WebhookStore } from './store.js';

/** How long a replaced secret keeps signing (API.md: 24 hours of double signatures). */
export const SECRET_GRACE_SECONDS = 24 * 60 * 60;

export interface Caller {
  staff: StaffMember;
  origin: RequestOrigin;
}

export interface EndpointInput {
  url: string;
  events: string[];
  description?: string | null;
}

/** The answer to a delivery asked of an endpoint that is off: it would only fail, so nothing is queued. */
const turnedOff = () => conflict('The endpoint is turned off: turn it on (enabled: true) to deliver to it again.');

/** A new secret: `whsec_` and the base64 of 32 random bytes (the Standard Webhooks form). */
function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * Webhook endpoints, managed by staff with the System Integrations
 * permission: every change is an audit event in its own transaction;
 * secrets are shown once and stored sealed; a URL must be a public address
 * (in production), checked when it is saved and again at each delivery.
 */
export function createWebhookService(deps: {
  db: Knex;
  store: WebhookStore;
  audit: AuditLog;
  rule: AddressRule;
  /** Seals secrets at rest: the first key seals, any opens (derived from the server's keys). */
  sealKeys: Buffer[] | undefined;
  /** Called once a change that makes deliveries has committed (the relay then enqueues them at once). */
  onDeliveries?: () => void;
}) {
  const { db, store, audit, rule } = deps;

  function stored(secret: string): StoredSecret {
    if (!deps.sealKeys?.[0]) throw new Error('webhook secrets need the server\'s keys to be sealed');
    return { id: randomUUID(), sealed: seal(secret, deps.sealKeys[0]), hint: secret.slice(-4) };
  }

  /** A URL staff may save: its form, and (in production) where its name resolves now. */
  async function checkUrl(url: string): Promise<void> {
    const problem = urlProblem(url, rule);
    if (problem) throw validationFailed([{ path: 'url', message: problem }]);
    if (!rule.production) return;
    const target = await resolveTarget(new URL(url), rule);
    if ('refused' in target) throw validationFailed([{ path: 'url', message: `is refused: ${target.refused}` }]);
  }

  const record = (caller: Caller, action: Parameters<AuditLog['record']>[0]['action'], endpoint: { id: string; url: string; description: string | null }, details?: Record<string, unknown>) =>
    audit.record({
      facilityId: caller.staff.facilityId,
      action,
      actor: staffActor(caller.staff),
      target: { type: 'webhook_endpoint', id: endpoint.id, name: endpoint.description ?? endpoint.url },
      origin: caller.origin,
      ...(details ? { details } : {}),
    });

  async function findOrThrow(staff: StaffMember, id: string): Promise<WebhookEndpoint> {
    const endpoint = await store.find(staff.facilityId, id);
    if (!endpoint) throw notFound('No webhook endpoint with this id.');
    return endpoint;
  }

  return {
    list: (caller: Caller) => store.list(caller.staff.facilityId),
    get: (caller: Caller, id: string) => findOrThrow(caller.staff, id),

    /** A new endpoint; answers its secret once. */
    async create(caller: Caller, input: EndpointInput): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
      await checkUrl(input.url);
      const secret = newSecret();
      const id = randomUUID();
      const endpoint = await inTransaction(db, async () => {
        await store.insertEndpoint({ id, facilityId: caller.staff.facilityId, url: input.url, description: input.description ?? null, events: input.events, createdBy: caller.staff.id }, stored(secret));
        await record(caller, 'webhook_endpoint.created', { id, url: input.url, description: input.description ?? null }, { url: input.url, events: input.events });
        return findOrThrow(caller.staff, id);
      });
      return { endpoint, secret };
    },

    async update(caller: Caller, id: string, changes: Partial<EndpointInput> & { enabled?: boolean }): Promise<WebhookEndpoint> {
      if (changes.url !== undefined) await checkUrl(changes.url);
      return inTransaction(db, async () => {
        if (!(await store.lock(caller.staff.facilityId, id))) throw notFound('No webhook endpoint with this id.');
        const before = await findOrThrow(caller.staff, id);
        await store.update(caller.staff.facilityId, id, changes);
        const after = await findOrThrow(caller.staff, id);
        await record(caller, 'webhook_endpoint.updated', after, { before: { url: before.url, events: before.events, description: before.description, enabled: before.enabled }, after: changes });
        return after;
      });
    },

    async delete(caller: Caller, id: string): Promise<void> {
      await inTransaction(db, async () => {
        const endpoint = await findOrThrow(caller.staff, id);
        if (!(await store.delete(caller.staff.facilityId, id))) throw notFound('No webhook endpoint with this id.');
        await record(caller, 'webhook_endpoint.deleted', endpoint, { url: endpoint.url });
      });
    },

    /** A new secret, shown once; the one it replaces signs too for 24 hours. */
    async rotateSecret(caller: Caller, id: string): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
      const secret = newSecret();
      const endpoint = await inTransaction(db, async () => {
        if (!(await store.lock(caller.staff.facilityId, id))) throw notFound('No webhook endpoint with this id.');
        await store.replaceSecret(id, stored(secret), SECRET_GRACE_SECONDS);
        const after = await findOrThrow(caller.staff, id);
        await record(caller, 'webhook_endpoint.secret_rotated', after, { previousSignsForSeconds: SECRET_GRACE_SECONDS });
        return after;
      });
      return { endpoint, secret };
    },

    /** A `webhook.test` event to this endpoint only, delivered now. */
    async sendTest(caller: Caller, id: string): Promise<{ eventId: string }> {
      const endpoint = await findOrThrow(caller.staff, id);
      if (!endpoint.enabled) throw turnedOff();
      const eventId = `evt_${randomUUID()}`;
      await inTransaction(db, () =>
        store.emit({ id: eventId, facilityId: endpoint.facilityId, type: 'webhook.test', data: { endpointId: endpoint.id, sentBy: { id: caller.staff.id, name: caller.staff.name } } }, endpoint.id),
      );
      deps.onDeliveries?.();
      return { eventId };
    },

    async deliveries(caller: Caller, id: string, query: { limit: number; cursor?: string | undefined; status?: DeliveryStatus | undefined }) {
      await findOrThrow(caller.staff, id);
      const after = query.cursor === undefined ? undefined : decodeKeysetCursor(query.cursor);
      const rows = await store.deliveries({ endpointId: id, limit: query.limit + 1, ...(query.status ? { status: query.status } : {}), ...(after ? { after: { createdAt: after.at, id: after.id } } : {}) });
      return keysetPage(rows, query.limit, (delivery) => ({ at: delivery.createdAt, id: delivery.id }));
    },

    /** Delivers a delivery again, now (whatever it came to before). */
    async retry(caller: Caller, deliveryId: string): Promise<void> {
      const outcome = await store.retry(caller.staff.facilityId, deliveryId);
      if (outcome === 'missing') throw notFound('No webhook delivery with this id.');
      if (outcome === 'turned-off') throw turnedOff();
      deps.onDeliveries?.();
    },

    /**
     * Stores an event beside its cause (call it inside the cause's
     * transaction): a delivery to each endpoint of the facility that wants it.
     */
    async emit(event: { facilityId: string; type: WebhookEventType; data: Record<string, unknown>; id?: string }): Promise<number> {
      return store.emit({ id: event.id ?? `evt_${randomUUID()}`, facilityId: event.facilityId, type: event.type, data: event.data });
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
