import type { Context } from 'koa';

import { isWellFormedKey } from '../api-keys/key-format.js';
import type { Requirements, ScopeName } from '../api-keys/scopes.js';
import type { UsageTracker } from '../api-keys/usage.js';
import type { ApiKeyVerifier, Refusal, Verification } from '../api-keys/verifier.js';
import { AppError } from '../http/errors.js';
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
  /** The principal, or the RFC 6750 refusal (401, or 403 for a missing scope). Checked once per request. */
  verify(): Promise<ApiKeyPrincipal>;
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
    apiKeyInWrite: { scope: ScopeName | ScopeName[] };
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

type Check = (token: string, tokenHash: string, requirement: Requirement) => Promise<Verification | { ok: false; reason: KeyRefusal }>;

/** The RFC 6750 answer to a refused key: what clients got before the verifier existed. */
function refusalError(reason: KeyRefusal, scopes: readonly string[]) {
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
  /** `verify()` has settled (accepted or refused). */
  verified = false;
  /** The key was accepted, by `verify()` or by a write that checked it. */
  accepted = false;
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

  verify(): Promise<ApiKeyPrincipal> {
    this.#result ??= this.check(this.token, this.tokenHash, this.requirement).then(
      (verification) => {
        this.verified = true;
        if (!verification.ok) {
          // The reason goes to the request's log line; the client gets the usual RFC 6750 answer.
          (this.ctx.state as RequestState).refusal = verification.reason;
          throw refusalError(verification.reason, this.requirement.scopes);
        }
        this.accepted = true;
        return { keyId: verification.keyId, facilityId: verification.facilityId, scopes: verification.scopes };
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
  if (mode !== 'remote') return (_token, tokenHash, requirement) => verifier.verifyHash(tokenHash, requirement);
  if (!remote) throw new Error('remote key checks need an introspection endpoint');
  return async (token, _tokenHash, requirement) => {
    const result = await remote.introspect(token);
    if (!result.active) return { ok: false as const, reason: 'inactive' as const };
    // The authorization server judged the key for this API; the operation's scope is read from its answer.
    if (!requirement.scopes.some((scope) => result.key.scopes.includes(scope))) return { ok: false as const, reason: 'insufficient_scope' as const };
    return { ok: true as const, ...result.key };
  };
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

  /** The key's rate limit: its headers on every answer, 429 past it. */
  async function takeLimit(ctx: Context, tokenHash: string): Promise<void> {
    if (!limits) return;
    const taken = limits.keys.take(tokenHash);
    const decision = taken instanceof Promise ? await taken : taken;
    if (!decision) return;
    setRateLimitHeaders(ctx, 'key', decision);
    if (!decision.allowed) {
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
    if (credential?.accepted && mode !== 'remote') usage.record(credential.tokenHash, ctx.ip);
    if (limits && (error as { status?: number } | undefined)?.status === 401) await countFailure(ctx, ctx.ip);
    return error;
  }

  return (route: AnyRoute) => {
    const scope = (route.requires as { scope?: ScopeName | ScopeName[] } | undefined)?.scope;
    if (!scope || scope.length === 0) throw new Error(`route ${route.operationId} takes an API key but declares no scope (requires: { scope })`);
    const requirement = requirements.of(...(Array.isArray(scope) ? scope : [scope]));
    const inWrite = route.security === 'apiKeyInWrite';
    const authenticate: Authenticate<ApiKeyPrincipal & ApiKeyCredential> = async function authenticateApiKey(ctx, run) {
      const blocked = limits?.failures.blocked('keyChecks', ctx.ip);
      if (blocked !== undefined) {
        throw tooManyRequests(`Too many requests with refused API keys came from this address. Try again in ${blocked} seconds.`, blocked);
      }
      let credential: Credential | undefined;
      try {
        credential = await present(ctx, requirement, inWrite);
        if (!credential.inWrite) {
          const principal = await credential.verify();
          await run((inWrite ? credential : principal) as ApiKeyPrincipal & ApiKeyCredential);
        } else {
          await run(credential as unknown as ApiKeyPrincipal & ApiKeyCredential);
        }
        if (!credential.accepted) throw uncheckedKey(route);
      } catch (thrown) {
        throw await settle(ctx, credential, thrown);
      }
      if (mode !== 'remote') usage.record(credential.tokenHash, ctx.ip);
    };
    return authenticate;
  };
}
