import { createHash } from 'node:crypto';

import { isLimitReached, retryAfterSeconds, type LimitStore } from './store.js';

/** API.md "Limits": failed sign-ins per email and per address, in 15 minutes. */
export const SIGN_IN_LIMITS = {
  email: { points: 5, durationSeconds: 15 * 60 },
  ip: { points: 50, durationSeconds: 15 * 60 },
} as const;

/** What the store keeps instead of an email or an address (people type passwords into the email field). */
const keyOf = (value: string) => createHash('sha256').update(value).digest('base64url');

/**
 * Sign-in limits, checked before any password work: after 5 failures for one
 * email (whether it exists or not, whatever the password) that email is
 * refused for the rest of the 15 minutes; one address may fail 50 times. On
 * a shared store that fails, the counting goes on in this process.
 */
export function createSignInLimits(deps: { store: LimitStore }) {
  const email = deps.store.limiter('signin-email', SIGN_IN_LIMITS.email.points, SIGN_IN_LIMITS.email.durationSeconds);
  const ip = deps.store.limiter('signin-ip', SIGN_IN_LIMITS.ip.points, SIGN_IN_LIMITS.ip.durationSeconds);
  const emailKey = (value: string) => keyOf(value.trim().toLowerCase());

  return {
    /** Seconds until this email, or this address, may try again; undefined when both may try now. */
    async retryAfter(attempt: { email: string; ip: string }): Promise<number | undefined> {
      const [byEmail, byIp] = await Promise.all([email.get(emailKey(attempt.email)), ip.get(keyOf(attempt.ip))]);
      const waits = [
        byEmail && byEmail.consumedPoints >= SIGN_IN_LIMITS.email.points ? retryAfterSeconds(byEmail) : undefined,
        byIp && byIp.consumedPoints >= SIGN_IN_LIMITS.ip.points ? retryAfterSeconds(byIp) : undefined,
      ].filter((wait): wait is number => wait !== undefined);
      return waits.length ? Math.max(...waits) : undefined;
    },

    /** Counts a failed sign-in against the email and the address. */
    async failed(attempt: { email: string; ip: string }): Promise<void> {
      const spent = (reason: unknown) => {
        if (!isLimitReached(reason)) throw reason;
      };
      await Promise.all([email.consume(emailKey(attempt.email)).catch(spent), ip.consume(keyOf(attempt.ip)).catch(spent)]);
    },
  };
}

export type SignInLimits = ReturnType<typeof createSignInLimits>;
