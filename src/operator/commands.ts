import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';

import type { ApiKey } from '../api-keys/model.js';
import { NO_ORIGIN, type Actor, type AuditEvent } from '../audit/model.js';
import { auditCsv } from '../audit/routes.js';
import { violatedConstraint } from '../db/constraints.js';
import { inTransaction } from '../db/transaction.js';
import type { Services } from '../services.js';
import { ROLES, type Role, type StaffMember } from '../staff/model.js';
import { hashPassword } from '../staff/passwords.js';
import { STAFF_EMAIL_CONSTRAINT } from '../staff/store.js';

/** A problem the operator can fix (a bad argument, an unknown id): exit code 1 with this message. */
export class OperatorError extends Error {}

/** A strong initial password: 24 characters of CSPRNG randomness, shown once, stored only as its scrypt hash. */
function initialPassword(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * What the operator's command line does, against the database the
 * configuration names. Each works in production: none needs the demo seed.
 * The command line only ends keys (it never mints one), so it runs without
 * oidc-provider.
 */
/** The operator, as the audit log names them: the account and host the command line ran on, where known. */
export function operatorActor(): Actor {
  let user = process.env.USER ?? process.env.LOGNAME;
  try {
    user = os.userInfo().username;
  } catch {
    // No account name (a container without /etc/passwd): the variables, if any.
  }
  return { type: 'operator', name: `${user ?? 'unknown'}@${os.hostname()}` };
}

export function createOperatorCommands(services: Services, actor: Actor = operatorActor()) {
  const { config, facilityStore: facilities, staffStore: staff, apiKeyStore: keys, auditStore: audit } = services;
  const db = services.database.knex;
  const record = services.audit.record;

  /** A staff member and their `staff.added` event, in the caller's transaction. */
  async function addStaff(input: { facilityId: string; email: string; name: string; role: Role }): Promise<{ staff: StaffMember; password: string }> {
    const password = initialPassword();
    const passwordHash = await hashPassword(password);
    try {
      const member = await inTransaction(db, async () => {
        const added = await staff.insert({ id: randomUUID(), ...input, passwordHash });
        await record({
          facilityId: added.facilityId,
          action: 'staff.added',
          actor,
          target: { type: 'staff', id: added.id, name: added.name },
          origin: NO_ORIGIN,
          details: { email: added.email, role: added.role },
        });
        return added;
      });
      return { staff: member, password };
    } catch (error) {
      if (violatedConstraint(error) === STAFF_EMAIL_CONSTRAINT) throw new OperatorError(`A staff member with the email ${input.email} already exists.`);
      throw error;
    }
  }

  async function facilityMustExist(facilityId: string): Promise<void> {
    if (!(await facilities.exists(facilityId))) throw new OperatorError(`No facility with the id ${facilityId}.`);
  }

  return {
    /** A new facility and its Owner, in one transaction; the Owner's initial password is in the answer, and nowhere else. */
    async createFacility(input: { name: string; ownerEmail: string; ownerName: string }) {
      return inTransaction(db, async () => {
        const facility = { id: randomUUID(), name: input.name };
        await facilities.insert(facility);
        await record({ facilityId: facility.id, action: 'facility.created', actor, target: { type: 'facility', id: facility.id, name: facility.name }, origin: NO_ORIGIN });
        const owner = await addStaff({ facilityId: facility.id, email: input.ownerEmail, name: input.ownerName, role: 'owner' });
        return { facility, owner: owner.staff, password: owner.password };
      });
    },

    async addStaff(input: { facilityId: string; email: string; name: string; role: string }) {
      if (!(ROLES as readonly string[]).includes(input.role)) throw new OperatorError(`--role must be one of: ${ROLES.join(', ')}.`);
      await facilityMustExist(input.facilityId);
      return addStaff({ ...input, role: input.role as Role });
    },

    async listKeys(facilityId: string): Promise<ApiKey[]> {
      await facilityMustExist(facilityId);
      return keys.list(facilityId, services.requirements.anyLeadsScope);
    },

    /** Revokes a key of any facility at once, through the same function as a delete, audited as the operator. */
    async revokeKey(id: string, reason: string): Promise<void> {
      await services.apiKeys
        .end({ facilityId: null, id }, { kind: 'revoked', actor, reason, origin: NO_ORIGIN })
        .catch((error: { status?: number }) => {
          if (error.status === 404) throw new OperatorError(`No live key with the id ${id} (unknown, deleted or already revoked).`);
          throw error;
        });
    },

    /** Every event of a facility (since a time), newest first, a page at a time to `write`. */
    async exportAudit(facilityId: string, since: Date | undefined, write: (events: AuditEvent[]) => void): Promise<number> {
      await facilityMustExist(facilityId);
      let count = 0;
      let after: { occurredAt: Date; id: string } | undefined;
      for (;;) {
        const page = await audit.list({ facilityId, limit: 1000, ...(since ? { since } : {}), ...(after ? { after } : {}) });
        if (page.length === 0) return count;
        write(page);
        count += page.length;
        const last = page[page.length - 1]!;
        after = { occurredAt: last.occurredAt, id: last.id };
      }
    },

    /** Every clean-up, in bounded batches: what expired, and audit events past the retention. */
    async purge(): Promise<Record<string, number>> {
      const removed: Record<string, number> = {};
      for (const task of services.housekeeping) removed[task.name] = await task.run();
      removed[`audit events older than ${config.auditRetentionDays} days`] = await audit.purgeOlderThan(config.auditRetentionDays);
      return removed;
    },

    csv: auditCsv,
  };
}
