import { randomUUID } from 'node:crypto';

import { violatedConstraint } from '../db/constraints.js';
import { conflict, notFound, validationFailed } from '../http/errors.js';
import type { Idempotency } from '../idempotency/service.js';
import type { ApiKeyCredential, ApiKeyPrincipal } from '../resource-server/api-key-auth.js';
import type { CreateLeadInput } from './schemas.js';
import { EMAIL_CONSTRAINT, leadFromSnapshot, LOCATION_CONSTRAINT, type Lead, type LeadStore, type NewLead } from './store.js';
import type { LeadWriter, Once } from './writer.js';

export interface IdempotencyKey {
  key: string;
  fingerprint: string;
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
   * the write wrote; when it wrote nothing, `verify()` says why (and throws
   * the 401/403). Were the key live by then after all, the write is tried
   * once more the same way; it is never retried without a check.
   */
  async function write(credential: ApiKeyCredential, lead: NewLead, once?: Once): Promise<Lead> {
    const check = credential.inWrite;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      let written: Lead | undefined;
      if (!check) {
        const principal = await credential.verify();
        written = await writer.insert(lead, { kind: 'verified', keyId: principal.keyId, facilityId: principal.facilityId }, once);
      } else if (once?.mode === 'complete') {
        written = await writer.insert(lead, { kind: 'live', tokenHash: check.tokenHash, requirement: check.requirement }, once);
      } else {
        written = await writer.insertLive(lead, check.tokenHash, check.requirement, once && { key: once.key, fingerprint: once.fingerprint });
      }
      if (written) {
        check?.accepted();
        return written;
      }
      await credential.verify();
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
     * The common case is one round trip: the key check, the lead and (with
     * an Idempotency-Key) its completed record in one statement. Anything
     * else takes the exact path: a replay, 422 or 409 for a used
     * Idempotency-Key; 409 or 400 for a refused row, kept for replay too.
     */
    async create(credential: ApiKeyCredential, input: CreateLeadInput, idempotencyKey?: IdempotencyKey): Promise<{ lead: Lead; replayed: boolean }> {
      try {
        const once = idempotencyKey && { mode: 'insert' as const, ...idempotencyKey };
        return { lead: created(await write(credential, newLead(input), once)), replayed: false };
      } catch (error) {
        if (violatedConstraint(error) === undefined) throw error;
        const principal = await credential.verify();
        if (!idempotencyKey) throw await refusal(error, principal, input);
      }
      const principal = await credential.verify();
      const outcome = await idempotency.run(principal.keyId, idempotencyKey.key, idempotencyKey.fingerprint, {
        attempt: async () => {
          try {
            return await write(credential, newLead(input), { mode: 'complete', ...idempotencyKey });
          } catch (error) {
            throw await refusal(error, principal, input);
          }
        },
        replay: (stored) => leadFromSnapshot(stored.result),
      });
      return { lead: outcome.replayed ? outcome.result : created(outcome.result), replayed: outcome.replayed };
    },

    /** A lead, to the key that created it; anything else is 404. */
    async get(principal: ApiKeyPrincipal, id: string): Promise<Lead> {
      const lead = await store.findCreatedBy(principal.keyId, id);
      if (!lead) throw notFound('No lead with this id was created by this API key.');
      return lead;
    },
  };
}

export type LeadService = ReturnType<typeof createLeadService>;
