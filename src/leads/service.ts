import { randomUUID } from 'node:crypto';

import type { Knex } from 'knex';

import { violatedConstraint } from '../db/constraints.js';
import { inTransaction } from '../db/transaction.js';
import { conflict, validationFailed } from '../http/errors.js';
import type { Idempotency } from '../idempotency/service.js';
import type { StoredResponse } from '../idempotency/store.js';
import type { ApiKeyPrincipal } from '../resource-server/api-key-auth.js';
import type { ApiKeyCheck } from '../resource-server/key-check-sql.js';
import type { CreateLeadInput } from './schemas.js';
import { EMAIL_CONSTRAINT, LEAD_PATH, LOCATION_CONSTRAINT, type Lead, type LeadStore, type NewLead } from './store.js';

export function presentLead(lead: Lead) {
  return { ...lead, createdAt: lead.createdAt.toISOString() };
}

function createdResponse(lead: Lead): StoredResponse {
  return { status: 201, body: presentLead(lead), headers: { Location: `${LEAD_PATH}${lead.id}` } };
}

export function createLeadService(deps: { db: Knex; store: LeadStore; idempotency: Idempotency }) {
  const { db, store, idempotency } = deps;

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
   * Writes one lead member of the key's facility (never another's: the
   * facility comes from the key, the location is checked against it by a
   * foreign key). `afterInsert` runs in the same transaction.
   */
  async function insertLead(principal: ApiKeyPrincipal, input: CreateLeadInput, afterInsert?: (lead: Lead) => Promise<void>): Promise<Lead> {
    const row = { ...newLead(input), facilityId: principal.facilityId, createdByKey: principal.keyId };
    try {
      // One statement needs no explicit transaction; with a follow-up write it does.
      if (!afterInsert) return await store.insert(row);
      return await inTransaction(db, async () => {
        const lead = await store.insert(row);
        await afterInsert(lead);
        return lead;
      });
    } catch (error) {
      // Mapped here, after the failed transaction is gone, so the look-up can run.
      const constraint = violatedConstraint(error);
      if (constraint === EMAIL_CONSTRAINT) {
        const leadId = await store.findIdByEmail(principal.facilityId, input.email);
        throw conflict('A member with this email already exists in this facility.', { leadId });
      }
      if (constraint === LOCATION_CONSTRAINT) {
        throw validationFailed([{ path: 'locationId', message: 'is not a location of this API key\'s facility' }]);
      }
      throw error;
    }
  }

  return {
    /**
     * Creates a lead in one statement that also checks the API key (and, with
     * an Idempotency-Key, records the 201 for replay). Undefined when nothing
     * was written: the key did not pass, or a constraint refused the row (the
     * email, the location, or the Idempotency-Key already used). The caller
     * then authenticates the key and calls `create`, which gives the exact
     * answer (401/403, 409 with the leadId, 400, a replay, 422 or 409).
     */
    async createCheckingKey(
      check: ApiKeyCheck,
      input: CreateLeadInput,
      idempotencyKey?: { key: string; fingerprint: string },
    ): Promise<StoredResponse | undefined> {
      try {
        const lead = await store.insertCheckedByKey(newLead(input), check, idempotencyKey);
        return lead && createdResponse(lead);
      } catch (error) {
        if (violatedConstraint(error) !== undefined) return undefined;
        throw error;
      }
    },

    /** Creates a lead; with an Idempotency-Key, at most once per key and body. */
    async create(
      principal: ApiKeyPrincipal,
      input: CreateLeadInput,
      idempotencyKey?: { key: string; fingerprint: string },
    ): Promise<{ response: StoredResponse; replayed: boolean }> {
      if (!idempotencyKey) return { response: createdResponse(await insertLead(principal, input)), replayed: false };
      return idempotency.run(principal.keyId, idempotencyKey.key, idempotencyKey.fingerprint, async (complete) => {
        const lead = await insertLead(principal, input, (created) => complete(createdResponse(created)));
        return createdResponse(lead);
      });
    },
  };
}

export type LeadService = ReturnType<typeof createLeadService>;
