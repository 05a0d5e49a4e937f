import type { Knex } from 'knex';

import { liveKeySource, liveKeysOfColumn, type Fragment, type Requirement } from '../api-keys/verifier.js';
import { runStatement, statement, type Statement } from '../db/statement.js';
import { queryable } from '../db/transaction.js';
import { violatedConstraint } from '../db/constraints.js';
import { DatabaseBusyError } from '../http/database-errors.js';
import { recordOutcomeSql } from '../idempotency/store.js';

export const EMAIL_CONSTRAINT = 'members_facility_email_unique';
export const LOCATION_CONSTRAINT = 'members_location_in_facility';

export interface Lead {
  id: string;
  facilityId: string;
  locationId: string | null;
  firstName: string;
  lastName: string;
  email: string;
  phone: string | null;
  source: string | null;
  notes: string | null;
  status: 'lead';
  createdAt: Date;
}

interface MemberRow {
  id: string;
  facility_id: string;
  location_id: string | null;
  first_name: string;
  last_name: string;
  email: string;
  phone: string | null;
  source: string | null;
  notes: string | null;
  status: 'lead';
  /** A Date from the driver; an ISO string inside a JSON snapshot. */
  created_at: Date | string;
}

const COLUMNS = ['id', 'facility_id', 'location_id', 'first_name', 'last_name', 'email', 'phone', 'source', 'notes', 'status', 'created_at'];

/** The lead's own fields; the facility and the creating key come from the key. */
export type NewLead = Omit<Lead, 'createdAt' | 'status' | 'facilityId'>;

/**
 * Where a new lead's facility and key come from: a row source of
 * `(key_id, facility_id)` with a name that identifies its SQL text (the
 * statement is prepared once per name). Either the verifier's live-key check
 * (`liveKeySource`: no live key, no row, nothing written) or a key verified
 * before the write (`verifiedKey`).
 */
export interface KeySource extends Fragment {
  name: string;
}

/** The verifier's live-key check of a secret, as a row source: no live key, no row, nothing written. */
export function liveKey(tokenHash: string, requirement: Requirement): KeySource {
  return { name: 'live', ...liveKeySource(tokenHash, requirement) };
}

/** A key the verifier already accepted, as a row source. */
export function verifiedKey(principal: { keyId: string; facilityId: string }): KeySource {
  return { name: 'verified', sql: 'select ?::uuid as key_id, ?::uuid as facility_id', bindings: [principal.keyId, principal.facilityId] };
}

/** Also writes the outcome of an Idempotency-Key (see `recordOutcomeSql`). */
export interface Once {
  mode: 'insert' | 'complete';
  key: string;
  fingerprint: string;
}

function toLead(row: MemberRow): Lead {
  return {
    id: row.id,
    facilityId: row.facility_id,
    locationId: row.location_id,
    firstName: row.first_name,
    lastName: row.last_name,
    email: row.email,
    phone: row.phone,
    source: row.source,
    notes: row.notes,
    status: row.status,
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(row.created_at),
  };
}

/** A lead from the snapshot an Idempotency-Key record keeps (the inserted row, as JSON). */
export function leadFromSnapshot(snapshot: unknown): Lead {
  return toLead(snapshot as MemberRow);
}

const INSERT_FROM_KEY = `insert into members (id, facility_id, location_id, first_name, last_name, email, phone, source, notes, status, created_by_key)
  select ?::uuid, k.facility_id, ?::uuid, ?, ?, ?, ?, ?, ?, 'lead', k.key_id
  from k
  returning ${COLUMNS.join(', ')}, created_by_key`;

/**
 * The Leads API's write, one statement: the key source as the CTE `k`, the
 * insert from it, and with `once` the Idempotency-Key's record of the same
 * row (its snapshot, which a replay presents like a first answer).
 */
function insertSql(source: KeySource, once: Once['mode'] | undefined): string {
  if (!once) return `with k as (${source.sql})\n  ${INSERT_FROM_KEY}`;
  return `with k as (${source.sql}),
  lead as (${INSERT_FROM_KEY}),
  record as (${recordOutcomeSql({ mode: once, scope: 'lead.created_by_key', status: 201, result: 'to_jsonb(lead)', from: 'lead' })})
  select lead.* from lead`;
}

/**
 * Many leads in one statement, each with its own key check: the leads as
 * arrays (`unnest`), each joined to the live key of its own secret by the
 * verifier's rule (`liveKeysOfColumn`); a lead whose key is not live joins
 * nothing and is not written. So that one lead cannot fail the others, a
 * lead whose email is already a member (`on conflict do nothing`) or whose
 * location is not of its key's facility (what LOCATION_CONSTRAINT refuses)
 * is left out too; every lead left out is then written alone, for the
 * answer it would have had alone. Bindings: the nine arrays, then the rules'.
 */
function insertManySql(keys: Fragment): string {
  return `with i as (
    select * from unnest(?::uuid[], ?::text[], ?::uuid[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
      as i(id, token_hash, location_id, first_name, last_name, email, phone, source, notes))
  insert into members (id, facility_id, location_id, first_name, last_name, email, phone, source, notes, status, created_by_key)
  select i.id, k.facility_id, i.location_id, i.first_name, i.last_name, i.email, i.phone, i.source, i.notes, 'lead', k.key_id
  from i cross join lateral (${keys.sql}) k
  where i.location_id is null or exists (select 1 from locations l where l.facility_id = k.facility_id and l.id = i.location_id)
  on conflict do nothing
  returning ${COLUMNS.join(', ')}, created_by_key`;
}

/** A lead waiting for its turn to be written (see `insertLive`). */
interface Waiting {
  lead: NewLead;
  tokenHash: string;
  /** When it started waiting (ms since the epoch). */
  since: number;
  resolve(lead: Lead | undefined): void;
  reject(error: unknown): void;
}

/** Postgres's deadlock_detected. */
const DEADLOCK = '40P01';

const compareEmails = (a: string, b: string) => {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
};

/** At most this many leads go in one statement. */
const MAX_BATCH = 100;

export interface LeadStoreOptions {
  /**
   * How many statements of `insertLive` may run at once (default 1). More
   * leads than that arriving together wait, and are then written together.
   * Below the pool's size, so that other work still gets connections.
   */
  concurrentWrites?: number;
  /**
   * A lead that could not start being written within this long (default
   * 10 s, as long as a wait for a connection) is answered 503 and never
   * written: the database is stuck, and the client should retry.
   */
  waitLimitMs?: number;
}

export function createLeadStore(db: Knex, options: LeadStoreOptions = {}) {
  const concurrentWrites = Math.max(1, options.concurrentWrites ?? 1);
  const waitLimitMs = options.waitLimitMs ?? 10_000;
  const statements = new Map<string, Statement>();
  const prepared = (source: KeySource, once: Once['mode'] | undefined) => {
    const name = once ? `leads_insert_${source.name}_${once}` : source.name === 'live' ? 'leads_insert_live' : `leads_insert_${source.name}`;
    let found = statements.get(name);
    if (!found) statements.set(name, (found = statement(name, insertSql(source, once))));
    return found;
  };

  /**
   * Inserts a lead for the key `source` yields, in one statement; the
   * facility and `created_by_key` come from that key. Undefined when the
   * source gave no key (the caller finds out why). The database enforces
   * the rest: one member per email in a facility (EMAIL_CONSTRAINT), a
   * location of the same facility (LOCATION_CONSTRAINT), and with `once`
   * an Idempotency-Key used before fails on the record's primary key.
   */
  async function insert(lead: NewLead, source: KeySource, once?: Once): Promise<Lead | undefined> {
    const values = [
      ...source.bindings,
      lead.id,
      lead.locationId,
      lead.firstName,
      lead.lastName,
      lead.email,
      lead.phone,
      lead.source,
      lead.notes,
      ...(once ? (once.mode === 'insert' ? [once.key, once.fingerprint] : [once.key]) : []),
    ];
    const [row] = await runStatement<MemberRow>(db, prepared(source, once?.mode), values);
    return row && toLead(row);
  }

  // Leads waiting for a write of `insertLive`, by requirement (one in practice: the Leads API's).
  const waiting = new Map<Requirement, Waiting[]>();
  const manyStatements = new Map<Requirement, { statement: Statement; bindings: Fragment['bindings'] }>();
  let writing = 0;

  function writeWaiting(): void {
    for (const [requirement, queue] of waiting) {
      while (writing < concurrentWrites && queue.length > 0) {
        const batch = queue.splice(0, MAX_BATCH);
        writing += 1;
        writeTogether(requirement, batch)
          // Whatever failed unforeseen, no lead waits for ever (settling a settled one does nothing).
          .catch((error: unknown) => batch.forEach((entry) => entry.reject(error)))
          .finally(() => {
            writing -= 1;
            writeWaiting();
          });
      }
      if (queue.length === 0) waiting.delete(requirement);
    }
    // While leads wait, a timer answers those that waited too long; none runs otherwise.
    if (waiting.size > 0 && !sweeper) {
      sweeper = setInterval(sweep, Math.min(1_000, waitLimitMs));
      sweeper.unref();
    } else if (waiting.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  }

  // Leads that waited past the limit (every write slot stuck) are answered 503 and dropped from the queue.
  let sweeper: NodeJS.Timeout | undefined;
  function sweep(): void {
    const late = Date.now() - waitLimitMs;
    for (const [requirement, queue] of waiting) {
      const expired = queue.filter((entry) => entry.since <= late);
      if (expired.length === 0) continue;
      const rest = queue.filter((entry) => entry.since > late);
      if (rest.length > 0) waiting.set(requirement, rest);
      else waiting.delete(requirement);
      for (const entry of expired) entry.reject(new DatabaseBusyError(`a lead waited ${waitLimitMs} ms for a write to start`));
    }
    writeWaiting();
  }

  const writeAlone = (requirement: Requirement, entry: Waiting) => insert(entry.lead, liveKey(entry.tokenHash, requirement)).then(entry.resolve, entry.reject);

  /** Each lead alone, one after another: on this write's one connection at a time, whatever the number. */
  async function writeEachAlone(requirement: Requirement, entries: Waiting[]): Promise<void> {
    for (const entry of entries) await writeAlone(requirement, entry);
  }

  async function writeTogether(requirement: Requirement, batch: Waiting[]): Promise<void> {
    if (batch.length === 1) return writeAlone(requirement, batch[0]!);
    let many = manyStatements.get(requirement);
    if (!many) {
      const keys = liveKeysOfColumn('i.token_hash', requirement);
      manyStatements.set(requirement, (many = { statement: statement('leads_insert_live_many', insertManySql(keys)), bindings: keys.bindings }));
    }
    // In one order of emails everywhere: two statements that meet on the same emails then wait for each other, never deadlock.
    const ordered = [...batch].sort((a, b) => compareEmails(a.lead.email, b.lead.email));
    const column = (pick: (entry: Waiting) => string | null) => ordered.map(pick);
    let rows: MemberRow[];
    try {
      rows = await runStatement<MemberRow>(db, many.statement, [
        column((entry) => entry.lead.id),
        column((entry) => entry.tokenHash),
        column((entry) => entry.lead.locationId),
        column((entry) => entry.lead.firstName),
        column((entry) => entry.lead.lastName),
        column((entry) => entry.lead.email),
        column((entry) => entry.lead.phone),
        column((entry) => entry.lead.source),
        column((entry) => entry.lead.notes),
        ...many.bindings,
      ]);
    } catch (error) {
      // A rule the statement does not leave out (a constraint added later, say), or a deadlock all the
      // same: it wrote nothing, so each lead goes alone.
      if (violatedConstraint(error) !== undefined || (error as { code?: string }).code === DEADLOCK) return writeEachAlone(requirement, batch);
      for (const entry of batch) entry.reject(error);
      return;
    }
    const written = new Map(rows.map((row) => [row.id, row]));
    const leftOut: Waiting[] = [];
    for (const entry of batch) {
      const row = written.get(entry.lead.id);
      if (row) entry.resolve(toLead(row));
      else leftOut.push(entry);
    }
    // Left out (a refused key, an email already there, a foreign location): alone, each gets its own answer.
    await writeEachAlone(requirement, leftOut);
  }

  return {
    insert,

    /**
     * `insert` with the verifier's live-key check of the secret
     * `tokenHash`, written together with the leads that arrive while
     * earlier ones are being written: one statement, and one commit, for
     * many leads, each with its own key check (`insertManySql`). Alone (the
     * usual case unless the API is busy) a lead is written at once, by
     * itself. A lead is answered only once its statement has committed. A
     * lead the statement leaves out (a refused key, an email already there,
     * a foreign location) is then written alone, so every lead gets the
     * answer it would have had alone; those go one after another, so no
     * burst of them takes more than this write's one connection.
     */
    insertLive(lead: NewLead, tokenHash: string, requirement: Requirement): Promise<Lead | undefined> {
      return new Promise((resolve, reject) => {
        const entry: Waiting = { lead, tokenHash, since: Date.now(), resolve, reject };
        const queue = waiting.get(requirement);
        if (queue) queue.push(entry);
        else waiting.set(requirement, [entry]);
        writeWaiting();
      });
    },

    /** A lead created by this very key (another key's, or an unknown id, reads as absent). */
    async findCreatedBy(keyId: string, id: string): Promise<Lead | undefined> {
      const row = (await queryable(db)('members').select(COLUMNS).where({ id, created_by_key: keyId }).first()) as MemberRow | undefined;
      return row && toLead(row);
    },

    async findIdByEmail(facilityId: string, email: string): Promise<string | undefined> {
      const row = (await queryable(db)('members')
        .select('id')
        .where({ facility_id: facilityId })
        .whereRaw('lower(email) = lower(?)', [email])
        .first()) as { id: string } | undefined;
      return row?.id;
    },
  };
}

export type LeadStore = ReturnType<typeof createLeadStore>;
