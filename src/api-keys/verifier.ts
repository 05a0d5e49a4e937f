import { defineStatement, type FastPath } from '../db/fast-path.js';
import { refusalInTransaction } from '../db/transaction.js';
import { createBatcher } from '../db/batcher.js';
import { API_KEYS_CLIENT_ID } from '../shared/clients.js';
import { requirementKey, type Requirement } from '../shared/requirement.js';
import { hashToken } from '../shared/token-hash.js';
import { isWellFormedKey } from './key-format.js';

export type { Requirement } from '../shared/requirement.js';

/**
 * The one verifier of API keys: what makes a key live is written here once,
 * and every path that accepts a key asks it. The Leads API's insert, the
 * in-process check, RFC 7662 introspection and the key list all use SQL
 * generated from the same rule list below, so they cannot disagree.
 */

/** Why a key was refused. Never the key itself: safe for logs, metrics and audit. */
export type Refusal =
  /** Not an API key at all: wrong layout or a failed checksum (decided without the database). */
  | 'malformed'
  /** No such secret, or its stored token is gone. */
  | 'unknown'
  | 'deleted'
  /** Revoked (for example reported as leaked). */
  | 'revoked'
  /** The key's own expiry, or its token's, has passed. */
  | 'expired'
  /** A previous secret whose rotation grace period has ended. */
  | 'rotated_out'
  /** The stored token does not belong to this key (consumed, granted, another client, key or facility). */
  | 'invalid'
  | 'wrong_audience'
  | 'insufficient_scope'
  /** The key is limited to locations, and the operation's location is not one of them. */
  | 'location_not_allowed'
  /** The operation places something at a location and names none, and the key is limited to several. */
  | 'location_required';

/** A live key, as the verifier found it. */
export interface LiveKey {
  keyId: string;
  facilityId: string;
  /** The scopes its token carries. */
  scopes: string[];
  audience: string[];
  /** When this secret was issued (seconds since the epoch). */
  issuedAt: number;
  /** When this secret stops working (seconds), or undefined for a key that does not expire. */
  expiresAt: number | undefined;
  /** The locations the key is limited to, or null for every location of its facility. */
  locationIds: string[] | null;
}

/** A refusal, and the key the secret belongs to when the server can tell (a rotated-out or revoked secret of a known key). */
export type Verification = ({ ok: true } & LiveKey) | { ok: false; reason: Refusal; keyId?: string };

/**
 * Table aliases a rule's SQL is written over: the key (`api_keys`), the
 * secret (`api_key_secrets`), the token (`oidc_payloads`), `q`, a row
 * holding what is required (`audience`, `scopes`, `places`), and `loc`, the
 * SQL expression of the location the operation acts on (null for none).
 * Rules hold no placeholders: each statement brings its `q` and `loc` in the
 * form it is sent.
 */
export interface Aliases {
  k: string;
  s: string;
  t: string;
  q: string;
  loc: string;
}

/** One rule: a SQL condition that holds for a live key; when it does not, the key is refused with `reason`. */
export interface Rule {
  id: string;
  reason: Exclude<Refusal, 'malformed'>;
  sql(a: Aliases): string;
}

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;

/**
 * Every rule of a live key, in the order a refusal is reported. The checks
 * of the token row restate what oidc-provider's own introspection checks
 * (stored, unexpired, unconsumed, its grant) and add what makes it this
 * key's token. `malformed` is the only rule outside this list: it is decided
 * from the value alone (`isWellFormedKey`), before any of these run.
 */
export const RULES: readonly Rule[] = [
  { id: 'secret-known', reason: 'unknown', sql: ({ s }) => `${s}.token_hash is not null` },
  { id: 'key-not-deleted', reason: 'deleted', sql: ({ k }) => `${k}.deleted_at is null` },
  { id: 'key-not-revoked', reason: 'revoked', sql: ({ k }) => `${k}.revoked_at is null` },
  { id: 'key-not-expired', reason: 'expired', sql: ({ k }) => `(${k}.expires_at is null or ${k}.expires_at > now())` },
  { id: 'secret-in-grace', reason: 'rotated_out', sql: ({ s }) => `(${s}.ends_at is null or ${s}.ends_at > now())` },
  { id: 'token-stored', reason: 'unknown', sql: ({ t }) => `${t}.id is not null` },
  { id: 'token-not-expired', reason: 'expired', sql: ({ t }) => `(${t}.expires_at is null or ${t}.expires_at > now())` },
  { id: 'token-exp', reason: 'expired', sql: ({ t }) => `(${t}.payload->>'exp')::bigint > extract(epoch from now())` },
  { id: 'token-not-consumed', reason: 'invalid', sql: ({ t }) => `${t}.consumed_at is null` },
  { id: 'token-without-grant', reason: 'invalid', sql: ({ t }) => `${t}.grant_id is null` },
  { id: 'token-of-key-client', reason: 'invalid', sql: ({ t }) => `${t}.payload->>'clientId' = ${quote(API_KEYS_CLIENT_ID)}` },
  { id: 'token-names-key', reason: 'invalid', sql: ({ k, t }) => `${t}.payload->'extra'->>'key_id' = ${k}.id::text` },
  { id: 'token-names-facility', reason: 'invalid', sql: ({ k, t }) => `${t}.payload->'extra'->>'facility_id' = ${k}.facility_id::text` },
  // `aud` is one string or a list: jsonb containment of a string matches both.
  { id: 'audience', reason: 'wrong_audience', sql: ({ t, q }) => `${t}.payload->'aud' @> to_jsonb(${q}.audience)` },
  { id: 'scope', reason: 'insufficient_scope', sql: ({ t, q }) => `string_to_array(${t}.payload->>'scope', ' ') && ${q}.scopes` },
  { id: 'location-allowed', reason: 'location_not_allowed', sql: ({ k, loc }) => `(${loc} is null or ${k}.location_ids is null or ${loc} = any(${k}.location_ids))` },
  {
    id: 'location-named',
    reason: 'location_required',
    sql: ({ k, q, loc }) => `(not ${q}.places or ${loc} is not null or coalesce(cardinality(${k}.location_ids), 0) <= 1)`,
  },
];

const ALIASES: Aliases = { k: 'k', s: 's', t: 't', q: 'q', loc: 'q.location_id' };

/**
 * A key's status in the list, from the verdicts on its current secret and on
 * its previous one (during a rotation). Keys broken in a way no API can
 * cause (their stored token gone or altered) are `invalid`: listed, so an
 * Owner can see and delete them, never as usable.
 */
export type KeyStatus = 'active' | 'rotating' | 'expired' | 'revoked' | 'invalid';

export function statusOf(current: Refusal | null, previous: Refusal | null): KeyStatus {
  if (current === null) return previous === null ? 'rotating' : 'active';
  if (current === 'expired' || current === 'revoked') return current;
  return 'invalid';
}

/** All rules as one condition: true only for a live key (NULL, from a missing row, reads as refused). */
const liveConditionSql = (aliases: Aliases) => RULES.map((rule) => `(${rule.sql(aliases)})`).join('\n    and ');

/**
 * The first rule a key breaks, as a SQL expression: the reason, or NULL for
 * a live key. `is not true` also catches conditions that are NULL because a
 * row is missing. The statement must provide the row `q` (see `Aliases`).
 */
export function refusalSql(aliases: Aliases = ALIASES): string {
  return `case ${RULES.map((rule) => `when (${rule.sql(aliases)}) is not true then '${rule.reason}'`).join('\n    ')} end`;
}

/** `q` for a knex query (no location: the list judges a key, not an operation): `cross join` it, with its bindings. */
export function requirementRow(requirement: Requirement): { sql: string; bindings: (string | string[] | boolean)[] } {
  return {
    sql: 'cross join (select ?::text as audience, ?::text[] as scopes, ?::boolean as places, null::uuid as location_id) q',
    bindings: [requirement.audience, [...requirement.scopes], requirement.places],
  };
}

/** The token row of a secret (a key's token is an oidc-provider access token, stored by its hash). */
const tokenJoin = (a: Pick<Aliases, 's' | 't'>) => `${a.t}.model = 'AccessToken' and ${a.t}.id = ${a.s}.token_hash`;

/**
 * The live key of the secret whose hash is the SQL expression `hash` (a
 * parameter, or a column of an outer row), judged against the requirement
 * row `q` (a CTE of the statement) for the location `loc`: a row source of
 * `(key_id, facility_id, location_ids)` for a statement that
 * writes only for a live key. Select from it, and no live key means no row,
 * so nothing is written, in the same statement (and snapshot) as the check;
 * as a lateral join, a row whose secret is not a live key joins nothing.
 */
export function liveKeySql(hash: string, q: string, loc: string): string {
  const aliases = { ...ALIASES, q, loc };
  return `select k.id as key_id, k.facility_id, k.location_ids
  from ${q}
  join api_key_secrets s on s.token_hash = ${hash}
  join api_keys k on k.id = s.key_id
  join oidc_payloads t on ${tokenJoin(aliases)}
  where ${liveConditionSql(aliases)}`;
}

/** Aliases of a key's previous secret (during a rotation) and its token, beside `k`. */
export const PREVIOUS: Aliases = { ...ALIASES, s: 'p', t: 'pt' };

/**
 * The row sources a key's list entry is judged from, beside the key `k`: its
 * current secret and that secret's token (`s`, `t`), and its newest previous
 * secret still in a grace period and that one's token (`PREVIOUS`). Each may
 * be missing, hence left joins; a missing secret reads as `unknown`.
 */
export const KEY_SECRET_JOINS = `left join api_key_secrets s on s.key_id = k.id and s.ends_at is null
  left join oidc_payloads t on ${tokenJoin(ALIASES)}
  left join lateral (select * from api_key_secrets p0 where p0.key_id = k.id and p0.ends_at > now() order by p0.ends_at desc limit 1) p on true
  left join oidc_payloads pt on ${tokenJoin(PREVIOUS)}`;

interface VerdictRow {
  refusal: Exclude<Refusal, 'malformed'> | null;
  key_id: string | null;
  facility_id: string | null;
  location_ids: string[] | null;
  scope: string | null;
  aud: string | string[] | null;
  iat: string | number | null;
  /** Seconds since the epoch (a number: cheaper to read than a timestamp). */
  expires_at: number | null;
}

/** What a verdict reads, over `q` (a row per secret judged: its hash and what is required) and its secret, key and token. */
const VERDICT_SELECT = `${refusalSql()} as refusal,
    k.id as key_id, k.facility_id, k.location_ids, t.payload->>'scope' as scope, t.payload->'aud' as aud, t.payload->>'iat' as iat,
    case when coalesce(k.expires_at, s.ends_at) is not null
      then floor(extract(epoch from least(k.expires_at, s.ends_at, to_timestamp((t.payload->>'exp')::bigint))))::bigint end as expires_at
  from q
  left join api_key_secrets s on s.token_hash = q.token_hash
  left join api_keys k on k.id = s.key_id
  left join oidc_payloads t on ${tokenJoin(ALIASES)}`;

/**
 * One statement: the secret, its key and its token, and the first rule they
 * break. A row always comes back (left joins from the hash), so "unknown" is
 * a verdict like the others. Values: the hash, the audience, the scopes,
 * whether the operation places something at a location, and that location.
 */
const VERDICT = defineStatement(
  'api_key_verdict',
  (p) => `with q as (select ${p(1)}::text as token_hash, ${p(2)}::text as audience, ${p(3)}::text[] as scopes, ${p(4)}::boolean as places, ${p(5)}::uuid as location_id)
  select ${VERDICT_SELECT}`,
);

/**
 * The verdicts on many secrets for one requirement, in one statement: a row
 * per secret and location (by `ord`, its 1-based place in the arrays), read
 * exactly as `VERDICT` reads one. Values: the audience, the scopes, whether
 * the operation places something, then the hashes and the locations.
 */
const VERDICTS = defineStatement(
  'api_key_verdicts',
  (p) => `with q as (select i.ord, i.token_hash, ${p(1)}::text as audience, ${p(2)}::text[] as scopes, ${p(3)}::boolean as places, i.location_id
    from unnest(${p(4)}::text[], ${p(5)}::uuid[]) with ordinality as i(token_hash, location_id, ord))
  select q.ord, ${VERDICT_SELECT}`,
);

const audienceOf = (aud: string | string[] | null): string[] => (aud === null ? [] : Array.isArray(aud) ? aud : [aud]);

function verdictOf(row: VerdictRow | undefined): Verification {
  if (!row || row.refusal !== null) return { ok: false, reason: row?.refusal ?? 'unknown', ...(row?.key_id ? { keyId: row.key_id } : {}) };
  return {
    ok: true,
    keyId: row.key_id!,
    facilityId: row.facility_id!,
    scopes: (row.scope ?? '').split(' ').filter(Boolean),
    audience: audienceOf(row.aud),
    issuedAt: Number(row.iat ?? 0),
    expiresAt: row.expires_at ?? undefined,
    locationIds: row.location_ids,
  };
}

/** What an operation acts on, where it matters to a key: the location (null for none named). */
export interface Place {
  locationId: string | null;
}

/** A secret waiting for its verdict (see `verifyHash`); the checks of one group share a requirement by value. */
interface Check {
  tokenHash: string;
  locationId: string | null;
  requirement: Requirement;
}

export interface VerifierOptions {
  /** How many verdict statements may run at once (default 1); checks arriving meanwhile wait and go together. */
  concurrency?: number;
  /** A check that could not start within this long (default 10 s) is answered 503. */
  waitLimitMs?: number;
  /** A check whose statement still runs after this long (default 10 s) is answered 503. */
  runLimitMs?: number;
}

/** At most this many secrets are judged in one statement. */
const MAX_BATCH = 100;

export function createApiKeyVerifier(fast: FastPath, options: VerifierOptions = {}) {
  const judgeOne = async ({ tokenHash, locationId, requirement }: Check): Promise<Verification> => {
    const [row] = await fast.run<VerdictRow>(VERDICT, [tokenHash, requirement.audience, requirement.scopes, requirement.places, locationId]);
    return verdictOf(row);
  };

  /** Checks that arrived together (one group: one requirement), judged by one statement: each distinct secret and location once. */
  async function judgeTogether(checks: Check[]): Promise<Map<Check, Verification>> {
    const { requirement } = checks[0]!;
    const distinct = new Map<string, number>();
    const hashes: string[] = [];
    const locations: (string | null)[] = [];
    const places = checks.map((check) => {
      const id = `${check.tokenHash} ${check.locationId ?? ''}`;
      let ord = distinct.get(id);
      if (ord === undefined) {
        hashes.push(check.tokenHash);
        locations.push(check.locationId);
        ord = hashes.length;
        distinct.set(id, ord);
      }
      return ord;
    });
    const rows = await fast.run<VerdictRow & { ord: string }>(VERDICTS, [requirement.audience, requirement.scopes, requirement.places, hashes, locations]);
    const byOrd = new Map(rows.map((row) => [Number(row.ord), row]));
    return new Map(checks.map((check, index) => [check, verdictOf(byOrd.get(places[index]!))]));
  }

  // Checks arriving together (one turn of the event loop) are judged together: one statement, not one each.
  const batcher = createBatcher<Check, Verification>({
    concurrency: options.concurrency ?? 1,
    maxBatch: MAX_BATCH,
    waitLimitMs: options.waitLimitMs ?? 10_000,
    // A stuck statement holds every check in it: they are answered 503 rather than left waiting.
    runLimitMs: options.runLimitMs ?? 10_000,
    gather: true,
    runTogether: (_group, checks) => judgeTogether(checks),
    runAlone: (_group, check) => judgeOne(check),
  });

  /** The verdict on a secret, from its hash, for an operation (at `place`, when it acts on a location). */
  function verifyHash(tokenHash: string, requirement: Requirement, place?: Place): Promise<Verification> {
    // Judged on a connection of its own, later in this turn: refused here, where the caller's transaction is known.
    const refusal = refusalInTransaction('a key check');
    if (refusal) return Promise.reject(refusal);
    return batcher.run(requirementKey(requirement), { tokenHash, locationId: place?.locationId ?? null, requirement });
  }

  return {
    /**
     * Verifies a presented key for one use. Every call reads the database:
     * no positive answer is cached, so a delete or a revocation applies to
     * the very next request in every process. Checks that arrive together
     * are read by one statement, which starts after each of them arrived.
     */
    async verify(token: string, requirement: Requirement, place?: Place): Promise<Verification> {
      if (!isWellFormedKey(token)) return { ok: false, reason: 'malformed' };
      return verifyHash(hashToken(token), requirement, place);
    },

    /** The same for a well-formed key the caller has hashed already (`isWellFormedKey`, `hashToken`). */
    verifyHash,
  };
}

export type ApiKeyVerifier = ReturnType<typeof createApiKeyVerifier>;
