import type { Context } from 'koa';

import { isWellFormedKey } from '../api-keys/key-format.js';
import type { Requirements, ScopeName } from '../api-keys/scopes.js';
import type { RefusedOutcome } from '../api-keys/usage-counts.js';
import type { UsageTracker } from '../api-keys/usage.js';
import type { ApiKeyVerifier, Place, Refusal, Verification } from '../api-keys/verifier.js';
import { AppError, forbidden, validationFailed } from '../http/errors.js';
import type { RequestState } from '../http/request-context.js';
import type { AnyRoute, Authenticate, Authenticator } from '../http/route.js';
import type { FailureLimits } from '../limits/failure-limits.js';
import type { KeyLimits } from '../limits/key-limits.js';
import type { Requirement } from '../shared/requirement.js';
import { hashToken } from '../shared/token-hash.js';
import { bearerChallenge, extractBearer } from './bearer.js';
import type { RemoteIntrospector } from './remote-introspection.js';

export const API_KEY_REALM = 'api';

/** The API key a request was authenticated with: whose it is and what it may do. */
export interface ApiKeyPrincipal {
  keyId: string;
  facilityId: string;
  scopes: string[];
  /** The locations the key is limited to, or null for all of its facility's. */
  locationIds: string[] | null;
}

/**
 * A key presented to a route whose write checks it in its own statement
 * (`apiKeyInWrite`). Either `verify()` accepts it, or the write that checked
 * it calls `inWrite.accepted()`; a route that ends with neither is refused
 * with a 500 (and a log line naming it), never answered as if the key had
 * been checked.
 */
export interface ApiKeyCredential {
  /**
   * Set in in-write mode: what a statement needs to check the key itself
   * (see the verifier's `liveKeySql`). Undefined in the other modes: the key
   * was verified before the route ran, and `verify()` gives its principal.
   */
  readonly inWrite: InWriteCheck | undefined;
  /**
   * The principal, or the refusal: RFC 6750's 401 (403 for a missing
   * scope), or a problem naming `locationId` for an operation at a location
   * the key is not good for. `place`: where the operation acts (for a route
   * that places what it makes at a location). Checked once per place, or
   * once more with `again` (after a write that checked the key itself and
   * wrote nothing: the key may have stopped being live since it was checked).
   */
  verify(place?: Place, options?: { again?: boolean }): Promise<ApiKeyPrincipal>;
}

export interface InWriteCheck {
  readonly tokenHash: string;
  readonly requirement: Requirement;
  /** The write checked the key in its own statement, and wrote: the key was accepted. */
  accepted(): void;
}

declare module '../http/route.js' {
  interface Principals {
    /** An API key, verified before the route runs. */
    apiKey: ApiKeyPrincipal;
    /** An API key the route's own write may check in its statement (see `ApiKeyCredential`). */
    apiKeyInWrite: ApiKeyCredential;
  }
  interface Requires {
    /** The scope the operation needs, or several of which any one will do. */
    apiKey: { scope: ScopeName | ScopeName[] };
    /** `places`: the operation places what it makes at a location (the key's location rules apply to it). */
    apiKeyInWrite: { scope: ScopeName | ScopeName[]; places?: boolean };
  }
}

/**
 * How the Leads API checks a key: `in-write` inside the statement that writes
 * (one round trip), `in-process` with the verifier before writing, `remote`
 * over RFC 7662 introspection (a Leads API deployed apart).
 */
export type KeyCheckMode = 'in-write' | 'in-process' | 'remote';

/** Why a key was refused: the verifier's reasons, or an inactive answer from a remote introspection endpoint. */
export type KeyRefusal = Refusal | 'inactive';

type Check = (token: string, tokenHash: string, requirement: Requirement, place: Place | undefined) => Promise<Verification | { ok: false; reason: KeyRefusal }>;

/** The answer to a refused key: RFC 6750's (what clients got before the verifier existed), or a problem naming the location. */
function refusalError(reason: KeyRefusal, scopes: readonly string[]) {
  if (reason === 'location_not_allowed') {
    return forbidden('This API key is limited to other locations: locationId must be one of its locations.', [{ path: 'locationId', message: 'is not a location this API key may use' }]);
  }
  if (reason === 'location_required') {
    return validationFailed([{ path: 'locationId', message: 'is required: this API key is limited to several locations, name one of them' }]);
  }
  if (reason === 'insufficient_scope') {
    const scope = scopes.join(' ');
    return bearerChallenge({
      realm: API_KEY_REALM,
      error: 'insufficient_scope',
      scope,
      description: `This API key lacks the ${scopes.join(' or ')} scope.`,
    });
  }
  const description =
    reason === 'malformed'
      ? 'The API key is malformed.'
      : reason === 'wrong_audience' || reason === 'invalid'
        ? 'This token is not an API key for this API.'
        : 'The API key is unknown, deleted or expired.';
  return bearerChallenge({ realm: API_KEY_REALM, error: 'invalid_token', description });
}

/** The IETF httpapi ratelimit headers (draft 09 structured fields) of one policy, on every answer. */
function setRateLimitHeaders(ctx: Context, name: string, figures: { limit: number; windowSeconds: number; remaining: number; resetSeconds: number }): void {
  ctx.set('RateLimit-Policy', `"${name}";q=${figures.limit};w=${figures.windowSeconds}`);
  ctx.set('RateLimit', `"${name}";r=${figures.remaining};t=${figures.resetSeconds}`);
}

function tooManyRequests(detail: string, retryAfter: number): AppError {
  return new AppError({ status: 429, code: 'rate-limited', title: 'Too many requests', detail, headers: { 'Retry-After': String(retryAfter) } });
}

/** A route that ended without its key checked: a bug of ours, answered 500 (the client sees nothing of it). */
function uncheckedKey(route: AnyRoute): AppError {
  return new AppError({
    status: 500,
    code: 'internal',
    title: 'Internal server error',
    cause: new Error(`route ${route.operationId} (${route.method.toUpperCase()} ${route.path}) ended without checking its API key: refused`),
  });
}

/** One presented key on one request: checked once, by `verify()` or by the route's write. */
class Credential implements ApiKeyCredential {
  #result: Promise<ApiKeyPrincipal> | undefined;
  #place: string | undefined;
  /** `verify()` has settled (accepted or refused). */
  verified = false;
  /** The key was accepted, by `verify()` or by a write that checked it. */
  accepted = false;
  /** The key the verifier refused this secret of, and why (counted as the key's refused request). */
  refusedKey: { keyId: string; reason: RefusedOutcome } | undefined;
  readonly inWrite: InWriteCheck | undefined;

  constructor(
    private readonly token: string,
    readonly tokenHash: string,
    private readonly requirement: Requirement,
    private readonly ctx: Context,
    private readonly check: Check,
    inWrite: boolean,
  ) {
    this.inWrite = inWrite
      ? {
          tokenHash,
          requirement,
          accepted: () => {
            this.accepted = true;
          },
        }
      : undefined;
  }

  verify(place?: Place, options?: { again?: boolean }): Promise<ApiKeyPrincipal> {
    const at = place?.locationId ?? '';
    if (!options?.again && this.#result && this.#place === at) return this.#result;
    this.#place = at;
    this.#result = this.check(this.token, this.tokenHash, this.requirement, place).then(
      (verification) => {
        this.verified = true;
        if (!verification.ok) {
          // The reason goes to the request's log line; the client gets the usual RFC 6750 answer.
          (this.ctx.state as RequestState).refusal = verification.reason;
          if ('keyId' in verification && verification.keyId && verification.reason !== 'malformed') this.refusedKey = { keyId: verification.keyId, reason: verification.reason };
          throw refusalError(verification.reason, this.requirement.scopes);
        }
        this.accepted = true;
        return { keyId: verification.keyId, facilityId: verification.facilityId, scopes: verification.scopes, locationIds: verification.locationIds };
      },
      (error: unknown) => {
        this.verified = true;
        throw error;
      },
    );
    return this.#result;
  }
}

export interface ApiKeyAuthenticationDeps {
  mode: KeyCheckMode;
  verifier: ApiKeyVerifier;
  remote: RemoteIntrospector | undefined;
  /** What each scope requires of a key (built once by the composition root). */
  requirements: Requirements;
  /** Notes each accepted use (off the critical path). A remote check leaves that to the authorization server. */
  usage: UsageTracker;
  /** Per-key limits and per-address limits on refused keys; absent when limits are off. */
  limits: { keys: KeyLimits; failures: FailureLimits } | undefined;
}

/** The check of a key in the configured mode: the verifier, or RFC 7662 with the scope read from its answer. */
function checkOf(deps: ApiKeyAuthenticationDeps): Check {
  const { mode, verifier, remote } = deps;
  if (mode !== 'remote') return (_token, tokenHash, requirement, place) => verifier.verifyHash(tokenHash, requirement, place);
  if (!remote) throw new Error('remote key checks need an introspection endpoint');
  return async (token, _tokenHash, requirement, place) => {
    const result = await remote.introspect(token);
    if (!result.active) return { ok: false as const, reason: 'inactive' as const };
    // The authorization server judged the key for this API; the operation's scope and location are read from its answer.
    const refusal = introspectedRefusal(result.key, requirement, place);
    return refusal ? { ok: false as const, reason: refusal } : { ok: true as const, ...result.key };
  };
}

/**
 * What a resource server run apart reads from an RFC 7662 answer for one
 * operation: the authorization server judged the key for this API; the
 * operation's scope and location are this side's to compare (the same rules
 * as the verifier's `scope`, `location-allowed` and `location-named`).
 */
function introspectedRefusal(key: { scopes: string[]; locationIds: string[] | null }, requirement: Requirement, place: Place | undefined): KeyRefusal | undefined {
  if (!requirement.scopes.some((scope) => key.scopes.includes(scope))) return 'insufficient_scope';
  const locationId = place?.locationId ?? null;
  if (locationId !== null && key.locationIds !== null && !key.locationIds.includes(locationId)) return 'location_not_allowed';
  if (requirement.places && locationId === null && (key.locationIds?.length ?? 0) > 1) return 'location_required';
  return undefined;
}

/**
 * Authentication by API key, decided here for every route that takes a key:
 * the Authorization header only; layout and checksum first (no database, no
 * HTTP hop for a mistyped key); the key's rate limit; then the verifier, in
 * the mode the configuration chose, against what the route requires (its
 * scope, declared on the route; a route that declares none is not mounted).
 *
 * Fail closed by construction: an `apiKey` route runs only once its key is
 * verified. An `apiKeyInWrite` route gets a credential its write may check
 * in its own statement; after it, a key neither verified nor accepted by a
 * write is a 500, never an accepted request.
 */
export function createApiKeyAuthentication(deps: ApiKeyAuthenticationDeps): Authenticator<'apiKey'> & Authenticator<'apiKeyInWrite'> {
  const { mode, requirements, usage, limits } = deps;
  const check = checkOf(deps);

  /** A refused key (any 401 from here) counts against the client's address; past the limit it gets 429. */
  async function countFailure(ctx: Context, ip: string): Promise<void> {
    const count = await limits!.failures.fail('keyChecks', ip);
    setRateLimitHeaders(ctx, 'failed-key-checks', { ...count, resetSeconds: count.retryAfter ?? count.windowSeconds });
  }

  /** The key's rate limit: its headers on every answer, 429 past it (counted as the key's refused request). */
  async function takeLimit(ctx: Context, tokenHash: string): Promise<void> {
    if (!limits) return;
    const taken = limits.keys.take(tokenHash);
    const decision = taken instanceof Promise ? await taken : taken;
    if (!decision) return;
    setRateLimitHeaders(ctx, 'key', decision);
    if (!decision.allowed) {
      usage.refused(decision.keyId, 'rate_limited');
      throw tooManyRequests(
        `This API key may make ${decision.limit} requests per ${decision.windowSeconds} seconds. Try again in ${decision.resetSeconds} seconds.`,
        Math.max(1, decision.resetSeconds),
      );
    }
  }

  /** A presented, well-formed key within its limit, as a credential for this route. */
  async function present(ctx: Context, requirement: Requirement, inWrite: boolean): Promise<Credential> {
    const token = extractBearer(ctx, API_KEY_REALM);
    if (!isWellFormedKey(token)) {
      (ctx.state as RequestState).refusal = 'malformed';
      throw refusalError('malformed', requirement.scopes);
    }
    const tokenHash = hashToken(token);
    await takeLimit(ctx, tokenHash);
    return new Credential(token, tokenHash, requirement, ctx, check, inWrite && mode === 'in-write');
  }

  /** After the route: a refused key gets its 401/403 before any other answer; an accepted one is noted as used. */
  async function settle(ctx: Context, credential: Credential | undefined, thrown: unknown): Promise<unknown> {
    let error = thrown;
    const status = (thrown as { status?: number } | undefined)?.status;
    // A request with a bad key gets its 401/403, never a hint about its input.
    if (credential && !credential.verified && !credential.accepted && status !== undefined && status < 500) {
      error = await credential.verify().then(
        () => thrown,
        (refusal: unknown) => refusal,
      );
    }
    // A refusal wins over an earlier acceptance (a key good for the route, not for the operation's location).
    if (credential?.refusedKey) usage.refused(credential.refusedKey.keyId, credential.refusedKey.reason);
    else if (credential?.accepted && mode !== 'remote') usage.record(credential.tokenHash, ctx.ip);
    if (limits && (error as { status?: number } | undefined)?.status === 401) await countFailure(ctx, ctx.ip);
    return error;
  }

  return (route: AnyRoute) => {
    const declared = route.requires as { scope?: ScopeName | ScopeName[]; places?: boolean } | undefined;
    const scope = declared?.scope;
    if (!scope || scope.length === 0) throw new Error(`route ${route.operationId} takes an API key but declares no scope (requires: { scope })`);
    const inWrite = route.security === 'apiKeyInWrite';
    const requirement = requirements.of(scope, { places: inWrite && declared?.places === true });
    const authenticate: Authenticate<ApiKeyPrincipal & ApiKeyCredential> = async function authenticateApiKey(ctx, run) {
      const blocked = limits?.failures.blocked('keyChecks', ctx.ip);
      if (blocked !== undefined) {
        throw tooManyRequests(`Too many requests with refused API keys came from this address. Try again in ${blocked} seconds.`, blocked);
      }
      let credential: Credential | undefined;
      try {
        credential = await present(ctx, requirement, inWrite);
        // A route whose write may check the key gets the credential unchecked (the write, or its
        // verify() with the operation's location, settles it); any other runs only once it is verified.
        if (inWrite) await run(credential as unknown as ApiKeyPrincipal & ApiKeyCredential);
        else await run((await credential.verify()) as ApiKeyPrincipal & ApiKeyCredential);
        if (!credential.accepted) throw uncheckedKey(route);
      } catch (thrown) {
        throw await settle(ctx, credential, thrown);
      }
      if (mode !== 'remote') usage.record(credential.tokenHash, ctx.ip);
    };
    return authenticate;
  };
}
