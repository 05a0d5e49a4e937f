import { violatedConstraint } from '../db/constraints.js';
import { defineStatement, type FastPath, type Statement } from '../db/fast-path.js';
import { createBatcher } from '../db/batcher.js';
import { refusalInTransaction } from '../db/transaction.js';
import { liveKeySql } from '../api-keys/verifier.js';
import { completeRecordSql, unrecordedSql } from '../idempotency/store.js';
import { requirementKey, type Requirement } from '../shared/requirement.js';
import { insertLeadSql, locationInFacilitySql, toLead, type Lead, type MemberRow, type NewLead } from './store.js';

/**
 * Where a new lead's facility and key come from: the verifier's live-key
 * check of a presented secret (`live`: no live key, no row, nothing
 * written, in the same statement as the check), or a key the verifier
 * accepted before the write (`verified`).
 */
export type KeySource =
  | { kind: 'live'; tokenHash: string; requirement: Requirement }
  | { kind: 'verified'; keyId: string; facilityId: string; locationIds: string[] | null };

/**
 * The lead keeps its Idempotency-Key and request fingerprint. `insert`: a
 * first attempt, written only when the key has no record (`unrecordedSql`);
 * `complete`: the attempt `run` claimed, which also completes its record
 * (`completeRecordSql`).
 */
export interface Once {
  mode: 'insert' | 'complete';
  key: string;
  fingerprint: string;
}

/** Postgres's deadlock_detected. */
const DEADLOCK = '40P01';

/** At most this many leads go in one statement. */
const MAX_BATCH = 100;

/**
 * A new lead's location: the one it names, or, when it names none, its
 * key's only location (a key limited to several must be told which: the
 * verifier's location rules refuse it otherwise).
 */
const leadLocationSql = (keys: string, location: string) =>
  `coalesce(${location}, case when cardinality(${keys}.location_ids) = 1 then ${keys}.location_ids[1] end)`;

const leadValues = (lead: NewLead) => [lead.id, lead.locationId, lead.firstName, lead.lastName, lead.email, lead.phone, lead.source, lead.notes];

/**
 * The statement of one lead: the key source as the CTE `k`, the insert from
 * it, and with `once` the lead's Idempotency-Key and fingerprint (and, to
 * `complete`, the claimed record's outcome: the row, which a replay
 * presents like a first answer). Values: the source's, then the lead's
 * (`leadValues`), then the key and fingerprint. An email already a member,
 * or an Idempotency-Key used before, fails it on its constraint, for the
 * caller's exact answer; except that the claimed attempt (`complete`)
 * writes nothing when a lead has its key, even one still being written.
 */
function singleStatement(source: KeySource['kind'], once: Once['mode'] | undefined): Statement {
  return defineStatement(`leads_insert_${source}${once ? `_${once}` : ''}`, (p) => {
    const first = source === 'live' ? 5 : 4;
    const location = `${p(first + 1)}::uuid`;
    const keys =
      source === 'live'
        ? `q as (select ${p(1)}::text as token_hash, ${p(2)}::text as audience, ${p(3)}::text[] as scopes, ${p(4)}::boolean as places),
  k as (${liveKeySql('q.token_hash', 'q', location)})`
        : `k as (select ${p(1)}::uuid as key_id, ${p(2)}::uuid as facility_id, ${p(3)}::uuid[] as location_ids)`;
    const values = [`${p(first)}::uuid`, leadLocationSql('k', location), ...[2, 3, 4, 5, 6, 7].map((offset) => p(first + offset))];
    const key = `${p(first + 8)}::text`;
    const insert = insertLeadSql({
      values,
      keys: 'k',
      from: 'k',
      ...(once ? { once: { key, fingerprint: `${p(first + 9)}::text` } } : {}),
      ...(once === 'insert' ? { where: unrecordedSql({ scope: 'k.key_id', key }) } : {}),
      // The claimed attempt: a lead made meanwhile with its key (by a first attempt that did not see the claim) is waited for, and then nothing is written.
      ...(once === 'complete' ? { skipTaken: 'key' as const } : {}),
    });
    if (once !== 'complete') return `with ${keys}\n  ${insert}`;
    const record = completeRecordSql({ scope: 'lead.created_by_key', key, status: 201, result: 'to_jsonb(lead)', from: 'lead' });
    return `with ${keys},
  lead as (${insert}),
  record as (${record})
  select lead.* from lead`;
  });
}

const SINGLE = new Map<string, Statement>();
for (const source of ['live', 'verified'] as const) {
  for (const once of [undefined, 'insert', 'complete'] as const) SINGLE.set(`${source}:${once ?? ''}`, singleStatement(source, once));
}

/**
 * Many leads in one statement, each with its own key check: the leads as
 * arrays (`unnest`), each joined to the live key of its own secret by the
 * verifier's rule; a lead whose key is not live joins nothing and is not
 * written. So that one lead cannot fail the others, a lead is left out
 * (and then written alone, for the answer it would have had alone) when its
 * email is already a member (`on conflict` on that index) or its location
 * is not of its key's facility. Values: the audience and scopes, then one
 * array per column.
 *
 * Leads with an Idempotency-Key go in statements of their own (`once`),
 * each lead keeping its key and fingerprint: one row, no record. A lead
 * whose key has a record (an attempt in flight, a kept client error) is
 * left out too. A key some lead already has fails the whole statement on
 * its unique index, and then each of its leads is written alone (for the
 * caller's `run` path: a replay or 422). That check is the unique index's,
 * by construction, not a query of the used keys that a prepared
 * statement's generic plan could turn into a scan; the records table it
 * probes holds only what has no lead, so it stays small. A lead without a
 * key never pays for any of it (the index is partial).
 */
function manyStatement(once: boolean): Statement {
  const columns = once ? 11 : 9;
  return defineStatement(
    once ? 'leads_insert_live_many_once' : 'leads_insert_live_many',
    (p) => {
      const inFacility = locationInFacilitySql('k', 'i.location_id');
      const insert = insertLeadSql({
        values: ['i.id', leadLocationSql('k', 'i.location_id'), 'i.first_name', 'i.last_name', 'i.email', 'i.phone', 'i.source', 'i.notes'],
        keys: 'k',
        from: `i cross join lateral (${liveKeySql('i.token_hash', 'q', 'i.location_id')}) k`,
        where: once ? `${inFacility}\n    and ${unrecordedSql({ scope: 'k.key_id', key: 'i.idempotency_key' })}` : inFacility,
        ...(once ? { once: { key: 'i.idempotency_key', fingerprint: 'i.fingerprint' } } : {}),
        skipTaken: 'email',
      });
      const types = ['uuid', 'text', 'uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text'].slice(0, columns);
      const names = ['id', 'token_hash', 'location_id', 'first_name', 'last_name', 'email', 'phone', 'source', 'notes', 'idempotency_key', 'fingerprint'].slice(0, columns);
      return `with q as (select ${p(1)}::text as audience, ${p(2)}::text[] as scopes, true as places),
  i as (select * from unnest(${types.map((type, index) => `${p(index + 3)}::${type}[]`).join(', ')})
    as i(${names.join(', ')}))
  ${insert}`;
    },
  );
}

const MANY = manyStatement(false);
const MANY_ONCE = manyStatement(true);

/** A lead waiting to be written with a live-key check (see `insertLive`). */
interface LiveWrite {
  lead: NewLead;
  tokenHash: string;
  /** What the key must hold (the leads of one group share it by value). */
  requirement: Requirement;
  once: Omit<Once, 'mode'> | undefined;
}

const compareEmails = (a: LiveWrite, b: LiveWrite) => {
  const x = a.lead.email.toLowerCase();
  const y = b.lead.email.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
};

export interface LeadWriterOptions {
  /**
   * How many statements of `insertLive` may run at once (default 1). More
   * leads than that arriving together wait, and are then written together.
   * Below the pool's size, so that other work still gets connections.
   */
  concurrentWrites?: number;
  /** A lead that could not start being written within this long (default 10 s) is answered 503 and never written. */
  waitLimitMs?: number;
}

/**
 * The Leads API's writes: one statement per lead, or one for many leads
 * arriving together (`insertLive`), each over the fast path. The key check,
 * the lead and its Idempotency-Key go in the same statement.
 */
export function createLeadWriter(fast: FastPath, options: LeadWriterOptions = {}) {
  /** One lead, one statement. Undefined when the key source gave no key (the caller finds out why). */
  async function insert(lead: NewLead, source: KeySource, once?: Once): Promise<Lead | undefined> {
    const sourceValues =
      source.kind === 'live'
        ? [source.tokenHash, source.requirement.audience, source.requirement.scopes, source.requirement.places]
        : [source.keyId, source.facilityId, source.locationIds];
    const onceValues = once ? [once.key, once.fingerprint] : [];
    const [row] = await fast.run<MemberRow>(SINGLE.get(`${source.kind}:${once?.mode ?? ''}`)!, [...sourceValues, ...leadValues(lead), ...onceValues]);
    return row && toLead(row);
  }

  async function writeTogether(_group: string, items: LiveWrite[]): Promise<Map<LiveWrite, Lead | undefined>> {
    // One group, one requirement (by value).
    const { requirement } = items[0]!;
    // In one order of emails everywhere: two statements that meet on the same emails then wait for each other, never deadlock.
    const ordered = [...items].sort(compareEmails);
    const column = (pick: (item: LiveWrite) => string | null) => ordered.map(pick);
    // A group holds leads with an Idempotency-Key or leads without, never both (see insertLive).
    const once = ordered[0]!.once !== undefined;
    let rows: MemberRow[];
    try {
      rows = await fast.run<MemberRow>(once ? MANY_ONCE : MANY, [
        requirement.audience,
        requirement.scopes,
        column((item) => item.lead.id),
        column((item) => item.tokenHash),
        column((item) => item.lead.locationId),
        column((item) => item.lead.firstName),
        column((item) => item.lead.lastName),
        column((item) => item.lead.email),
        column((item) => item.lead.phone),
        column((item) => item.lead.source),
        column((item) => item.lead.notes),
        ...(once ? [column((item) => item.once!.key), column((item) => item.once!.fingerprint)] : []),
      ]);
    } catch (error) {
      // A rule the statement does not leave out (a constraint added later, a key used by a concurrent
      // request), or a deadlock all the same: it wrote nothing, so each lead goes alone.
      if (violatedConstraint(error) !== undefined || (error as { code?: string }).code === DEADLOCK) return new Map();
      throw error;
    }
    const written = new Map(rows.map((row) => [row.id, row]));
    const results = new Map<LiveWrite, Lead | undefined>();
    for (const item of items) {
      const row = written.get(item.lead.id);
      if (row) results.set(item, toLead(row));
    }
    return results;
  }

  const batcher = createBatcher<LiveWrite, Lead | undefined>({
    concurrency: options.concurrentWrites ?? 1,
    maxBatch: MAX_BATCH,
    waitLimitMs: options.waitLimitMs ?? 10_000,
    // The leads of one turn of the event loop go together (see `BatcherOptions.gather`).
    gather: true,
    runTogether: writeTogether,
    runAlone: (_group, item) => insert(item.lead, { kind: 'live', tokenHash: item.tokenHash, requirement: item.requirement }, item.once && { mode: 'insert', ...item.once }),
  });

  return {
    insert,

    /**
     * `insert` with the verifier's live-key check of the secret
     * `tokenHash` (and, with `once`, its Idempotency-Key), written
     * together with the leads that arrive while earlier ones are being
     * written: one statement, and one commit, for many
     * leads, each with its own key check. A lead is answered only once its
     * statement has committed; one the statement leaves out is written
     * alone, so every lead gets the answer it would have had alone (a used
     * Idempotency-Key fails its own statement or writes nothing, for the
     * caller's `run` path).
     */
    insertLive(lead: NewLead, tokenHash: string, requirement: Requirement, once?: Omit<Once, 'mode'>): Promise<Lead | undefined> {
      // Written on a connection of its own, later in this turn: refused here, where the caller's transaction is known.
      const refusal = refusalInTransaction('a lead written together');
      if (refusal) return Promise.reject(refusal);
      // Leads with an Idempotency-Key are written together with each other only (their statement is another).
      return batcher.run(`${requirementKey(requirement)}${once ? ' once' : ''}`, { lead, tokenHash, requirement, once });
    },
  };
}

export type LeadWriter = ReturnType<typeof createLeadWriter>;
