import { randomUUID } from 'node:crypto';

import { violatedConstraint } from '../db/constraints.js';
import { conflict, notFound, validationFailed } from '../http/errors.js';
import { EffectExists, type Idempotency } from '../idempotency/service.js';
import type { ApiKeyCredential, ApiKeyPrincipal } from '../resource-server/api-key-auth.js';
import { LEADS_READ } from '../api-keys/scopes.js';
import { forbidden } from '../http/errors.js';
import type { CreateLeadInput, ListLeadsQuery } from './schemas.js';
import { EMAIL_CONSTRAINT, FIRST_CURSOR, leadFromSnapshot, LOCATION_CONSTRAINT, type Lead, type LeadCursor, type LeadStore, type NewLead } from './store.js';
import type { LeadWriter, Once } from './writer.js';

export interface IdempotencyKey {
  key: string;
  fingerprint: string;
}

const CURSOR_TEXT = /^(\d{1,19})\.(\d{1,18})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** A cursor as the client holds it: opaque (base64url of its three parts). */
export function encodeCursor(cursor: LeadCursor): string {
  return Buffer.from(`${cursor.xid}.${cursor.createdMicros}.${cursor.id}`, 'utf8').toString('base64url');
}

/** A cursor this list gave out, or a 400 naming `cursor`. */
export function decodeCursor(text: string): LeadCursor {
  const match = CURSOR_TEXT.exec(Buffer.from(text, 'base64url').toString('utf8'));
  // xid8 is a 64-bit count; the time is bounded by year 10000 (both well inside what Postgres takes).
  if (!match || BigInt(match[1]!) > 9_223_372_036_854_775_807n || BigInt(match[2]!) > 253_402_300_800_000_000n) {
    throw validationFailed([{ path: 'cursor', message: 'is not a cursor this list gave out' }]);
  }
  return { xid: match[1]!, createdMicros: match[2]!, id: match[3]! };
}

/**
 * A first attempt with an Idempotency-Key that wrote nothing though its key
 * is live: the Idempotency-Key has a record (an attempt in flight, or a kept
 * answer), so the request takes the exact path.
 */
class KeyRecorded extends Error {
  constructor() {
    super('this Idempotency-Key has a record');
  }
}

/** A lead as the Leads API presents it, in a first answer and in a replay alike. */
export function presentLead(lead: Lead) {
  return { ...lead, createdAt: lead.createdAt.toISOString() };
}

export function createLeadService(deps: { store: LeadStore; writer: LeadWriter; idempotency: Idempotency; onCreated?: () => void }) {
  const { store, writer, idempotency } = deps;
  const created = (lead: Lead) => {
    deps.onCreated?.();
    return lead;
  };

  /** A new lead's own fields, from the validated input (a fresh id; absent fields null). */
  function newLead(input: CreateLeadInput): NewLead {
    return {
      id: randomUUID(),
      locationId: input.locationId ?? null,
      firstName: input.firstName,
      lastName: input.lastName,
      email: input.email,
      phone: input.phone ?? null,
      source: input.source ?? null,
      notes: input.notes ?? null,
    };
  }

  /**
   * One statement that writes a lead for the credential's key: checked
   * inside the statement itself when the credential allows it (in-write;
   * together with other leads arriving at the same time, see
   * `insertLive`), else the key `verify()` accepted. Either way, a refused
   * key writes nothing. A key checked by the write is accepted only when
   * the write wrote; when it wrote nothing, `verify()` checks it anew and
   * says why (and throws the 401/403). Were the key live by then after
   * all, the write is tried once more the same way; it is never retried
   * without a check. With an Idempotency-Key, a live key's write that
   * wrote nothing was stopped by the Idempotency-Key: a first attempt by
   * its record (`KeyRecorded`), the claimed one by a lead that has it
   * (`EffectExists`).
   */
  async function write(credential: ApiKeyCredential, lead: NewLead, once?: Once): Promise<Lead> {
    const check = credential.inWrite;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      let written: Lead | undefined;
      if (!check) {
        const principal = await credential.verify({ locationId: lead.locationId });
        written = await writer.insert(lead, { kind: 'verified', keyId: principal.keyId, facilityId: principal.facilityId, locationIds: principal.locationIds }, once);
      } else if (once?.mode === 'complete') {
        written = await writer.insert(lead, { kind: 'live', tokenHash: check.tokenHash, requirement: check.requirement }, once);
      } else {
        written = await writer.insertLive(lead, check.tokenHash, check.requirement, once && { key: once.key, fingerprint: once.fingerprint });
      }
      if (written) {
        check?.accepted();
        return written;
      }
      // Checked anew: an earlier verify of this request (the claimed attempt's) may predate a revocation.
      await credential.verify({ locationId: lead.locationId }, { again: true });
      // The key is live: what stopped the write is the Idempotency-Key, its record or a lead that has it.
      if (once) throw once.mode === 'insert' ? new KeyRecorded() : new EffectExists();
    }
    throw new Error('the key check in the write and the verifier disagree');
  }

  /** The answer to a constraint that refused the lead: 409 naming the existing member, or 400 for a foreign location. */
  async function refusal(error: unknown, principal: ApiKeyPrincipal, input: CreateLeadInput): Promise<unknown> {
    const constraint = violatedConstraint(error);
    if (constraint === EMAIL_CONSTRAINT) {
      const leadId = await store.findIdByEmail(principal.facilityId, input.email);
      return conflict('A member with this email already exists in this facility.', { leadId });
    }
    if (constraint === LOCATION_CONSTRAINT) {
      return validationFailed([{ path: 'locationId', message: 'is not a location of this API key\'s facility' }]);
    }
    return error;
  }

  return {
    /**
     * Creates a lead member of the key's facility (never another's: the
     * facility comes from the key, the location is checked against it by a
     * foreign key); with an Idempotency-Key, at most once per key and body.
     *
     * The common case is one round trip: the key check and the lead (with
     * an Idempotency-Key, kept on the lead) in one statement. Anything else
     * takes the exact path: a replay, 422 or 409 for a used Idempotency-Key;
     * 409 or 400 for a refused row, kept for replay too.
     */
    async create(credential: ApiKeyCredential, input: CreateLeadInput, idempotencyKey?: IdempotencyKey): Promise<{ lead: Lead; replayed: boolean }> {
      // Where the lead goes, for the key's location rules (the same place in every check of this request).
      const place = { locationId: input.locationId ?? null };
      let principal: ApiKeyPrincipal;
      try {
        const once = idempotencyKey && { mode: 'insert' as const, ...idempotencyKey };
        return { lead: created(await write(credential, newLead(input), once)), replayed: false };
      } catch (error) {
        if (!(error instanceof KeyRecorded) && violatedConstraint(error) === undefined) throw error;
        principal = await credential.verify(place);
        if (!idempotencyKey) throw await refusal(error, principal, input);
      }
      // The lead this API key made with this Idempotency-Key, if any: what a retry is answered from.
      const kept = async () => {
        const found = await store.findByIdempotencyKey(principal.keyId, idempotencyKey.key);
        return found && { fingerprint: found.fingerprint, result: found.lead };
      };
      const outcome = await idempotency.run(principal.keyId, idempotencyKey.key, idempotencyKey.fingerprint, {
        kept,
        attempt: async () => {
          try {
            return await write(credential, newLead(input), { mode: 'complete', ...idempotencyKey });
          } catch (error) {
            // A row the database refused (the key check passed): a lead made meanwhile with this Idempotency-Key is the answer, if there is one.
            if (violatedConstraint(error) !== undefined && (await kept())) throw new EffectExists();
            throw await refusal(error, principal, input);
          }
        },
        replay: (stored) => leadFromSnapshot(stored.result),
      });
      return { lead: outcome.replayed ? outcome.result : created(outcome.result), replayed: outcome.replayed };
    },

    /**
     * A lead: with `leads:read`, any lead of the key's facility (of its
     * locations, for a key limited to some); with only `leads:create`, a
     * lead this very key created. Anything else is 404.
     */
    async get(principal: ApiKeyPrincipal, id: string): Promise<Lead> {
      const lead = principal.scopes.includes(LEADS_READ)
        ? await store.findInFacility(principal.facilityId, id, principal.locationIds)
        : await store.findCreatedBy(principal.keyId, id);
      if (!lead) throw notFound(principal.scopes.includes(LEADS_READ) ? 'No lead with this id in this API key\'s facility.' : 'No lead with this id was created by this API key.');
      return lead;
    },

    /**
     * The facility's leads after a cursor, oldest first (see the store's
     * `listAfter`), and where to poll next: after the last lead of the page,
     * or the cursor it was given when the page is empty.
     */
    async list(principal: ApiKeyPrincipal, query: ListLeadsQuery): Promise<{ items: Lead[]; nextCursor: string }> {
      const after = query.cursor ? decodeCursor(query.cursor) : FIRST_CURSOR;
      if (query.locationId && principal.locationIds && !principal.locationIds.includes(query.locationId)) {
        throw forbidden('This API key is limited to other locations: locationId must be one of its locations.', [{ path: 'locationId', message: 'is not a location this API key may use' }]);
      }
      const page = await store.listAfter(
        after,
        {
          facilityId: principal.facilityId,
          locationIds: principal.locationIds,
          locationId: query.locationId,
          source: query.source,
          createdSince: query.createdSince ? new Date(query.createdSince) : undefined,
        },
        query.limit,
      );
      const last = page[page.length - 1];
      return { items: page.map((entry) => entry.lead), nextCursor: last ? encodeCursor(last.cursor) : query.cursor ?? encodeCursor(FIRST_CURSOR) };
    },
  };
}

export type LeadService = ReturnType<typeof createLeadService>;
