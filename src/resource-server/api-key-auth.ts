import type { Context } from 'koa';

import { isWellFormedKey } from '../api-keys/key-format.js';
import type { UsageTracker } from '../api-keys/usage.js';
import type { ApiKeyVerifier, Refusal, Requirement, Verification } from '../api-keys/verifier.js';
import { AppError } from '../http/errors.js';
import type { Authenticate } from '../http/route.js';
import type { RequestState } from '../http/request-context.js';
import type { FailureLimits } from '../limits/failure-limits.js';
import type { KeyLimits } from '../limits/key-limits.js';
import { hashToken } from '../oauth/token-hash.js';
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
 * How the Leads API checks a key: `in-write` inside the statement that writes
 * (one round trip), `in-process` with the verifier before writing, `remote`
 * over RFC 7662 introspection (a Leads API deployed apart).
 */
export type KeyCheckMode = 'in-write' | 'in-process' | 'remote';

/** Why a key was refused: the verifier's reasons, or an inactive answer from a remote introspection endpoint. */
export type KeyRefusal = Refusal | 'inactive';

/**
 * A well-formed key presented on a request. `verify()` is the full check; in
 * `in-write` mode a write may instead check it in its own statement
 * (`inWrite`), and must call `verify()` whenever it wrote nothing.
 */
export interface ApiKeyCredential {
  /** Set in in-write mode: what a statement needs to check the key itself (see `liveKeySource`). */
  readonly inWrite: { tokenHash: string; requirement: Requirement } | undefined;
  /** True once `verify()` has settled. */
  readonly verified: boolean;
  /** The principal, or the RFC 6750 refusal (401, or 403 for a missing scope). Checked once per request. */
  verify(): Promise<ApiKeyPrincipal>;
}

/** The RFC 6750 answer to a refused key: what clients got before the verifier existed. */
function refusalError(reason: KeyRefusal, scope: string) {
  if (reason === 'insufficient_scope') {
    return bearerChallenge({ realm: API_KEY_REALM, error: 'insufficient_scope', scope, description: `This API key lacks the ${scope} scope.` });
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

class Credential implements ApiKeyCredential {
  #result: Promise<ApiKeyPrincipal> | undefined;
  verified = false;
  /** Set once `verify()` accepted the key. */
  accepted = false;

  constructor(
    readonly inWrite: ApiKeyCredential['inWrite'],
    private readonly token: string,
    private readonly ctx: Context,
    private readonly check: (token: string) => Promise<Verification | { ok: false; reason: KeyRefusal }>,
    private readonly scope: string,
  ) {}

  verify(): Promise<ApiKeyPrincipal> {
    this.#result ??= this.check(this.token).then(
      (verification) => {
        this.verified = true;
        if (!verification.ok) {
          // The reason goes to the request's log line; the client gets the usual RFC 6750 answer.
          (this.ctx.state as RequestState).refusal = verification.reason;
          throw refusalError(verification.reason, this.scope);
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

/**
 * Authentication by API key for one API, decided here for every route that
 * takes a key: the Authorization header only; layout and checksum first (no
 * database, no HTTP hop for a mistyped key); then the verifier, in the mode
 * the configuration chose. A route never chooses between paths: it gets a
 * credential, and a write that checked the key itself settles it.
 */
export function createApiKeyAuthentication(deps: {
  mode: KeyCheckMode;
  verifier: ApiKeyVerifier;
  remote: RemoteIntrospector | undefined;
  requirement: Requirement;
  /** Notes each accepted use (off the critical path). A remote check leaves that to the authorization server. */
  usage: UsageTracker;
  /** Per-key limits and per-address limits on refused keys; absent when limits are off. */
  limits: { keys: KeyLimits; failures: FailureLimits } | undefined;
}): Authenticate<ApiKeyCredential> {
  const { mode, verifier, remote, requirement, usage, limits } = deps;
  if (mode === 'remote' && !remote) throw new Error('remote key checks need an introspection endpoint');
  const check =
    mode === 'remote'
      ? async (token: string) => {
          const result = await remote!.introspect(token);
          return result.active ? { ok: true as const, ...result.key } : { ok: false as const, reason: 'inactive' as const };
        }
      : (token: string) => verifier.verify(token, requirement);

  /** A refused key (any 401 from here) counts against the client's address; past the limit it gets 429. */
  async function countFailure(ctx: Parameters<Authenticate<ApiKeyCredential>>[0], ip: string): Promise<void> {
    const count = await limits!.failures.fail('keyChecks', ip);
    setRateLimitHeaders(ctx, 'failed-key-checks', { ...count, resetSeconds: count.retryAfter ?? count.windowSeconds });
  }

  return async function authenticateApiKey(ctx, run) {
    const ip = ctx.ip;
    const blocked = limits?.failures.blocked('keyChecks', ip);
    if (blocked !== undefined) {
      throw tooManyRequests(`Too many requests with refused API keys came from this address. Try again in ${blocked} seconds.`, blocked);
    }
    let credential: Credential | undefined;
    let tokenHash = '';
    try {
      const token = extractBearer(ctx, API_KEY_REALM);
      if (!isWellFormedKey(token)) {
        (ctx.state as RequestState).refusal = 'malformed';
        throw refusalError('malformed', requirement.scope);
      }
      tokenHash = hashToken(token);
      if (limits) {
        const taken = limits.keys.take(tokenHash);
        const decision = taken instanceof Promise ? await taken : taken;
        if (decision) {
          setRateLimitHeaders(ctx, 'key', decision);
          if (!decision.allowed) {
            throw tooManyRequests(
              `This API key may make ${decision.limit} requests per ${decision.windowSeconds} seconds. Try again in ${decision.resetSeconds} seconds.`,
              Math.max(1, decision.resetSeconds),
            );
          }
        }
      }
      credential = new Credential(mode === 'in-write' ? { tokenHash, requirement } : undefined, token, ctx, check, requirement.scope);
      if (mode !== 'in-write') await credential.verify();
      await run(credential);
    } catch (thrown) {
      let error = thrown;
      const status = (thrown as { status?: number }).status;
      // A request with a bad key gets its 401/403, never a hint about its input.
      if (credential && !credential.verified && status !== undefined && status < 500) {
        error = await credential.verify().then(
          () => thrown,
          (refusal: unknown) => refusal,
        );
      }
      if (credential?.accepted && mode !== 'remote') usage.record(tokenHash, ip);
      if (limits && (error as { status?: number }).status === 401) await countFailure(ctx, ip);
      throw error;
    }
    // Settled without `verify()`: the route's own write accepted the key.
    if ((credential.accepted || !credential.verified) && mode !== 'remote') usage.record(tokenHash, ip);
  };
}
