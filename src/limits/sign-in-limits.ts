import { createHash } from 'node:crypto';

import { isLimitReached, retryAfterSeconds, type LimitStore } from './store.js';

/** API.md "Limits": failed sign-ins per email and per address, in 15 minutes; from a trusted device, per device instead. */
export const SIGN_IN_LIMITS = {
  email: { points: 5, durationSeconds: 15 * 60 },
  ip: { points: 50, durationSeconds: 15 * 60 },
  device: { points: 5, durationSeconds: 15 * 60 },
} as const;

/** Who a sign-in counts against: its email and address, or, from a trusted device, that device (its cookie) alone. */
export interface SignInCount {
  email: string;
  ip: string;
  device: string | undefined;
}

/** What the store keeps instead of an email or an address (people type passwords into the email field). */
const keyOf = (value: string) => createHash('sha256').update(value).digest('base64url');

/**
 * Sign-in limits, checked before any password work: after 5 failures for one
 * email (whether it exists or not, whatever the password) that email is
 * refused for the rest of the 15 minutes; one address may fail 50 times. A
 * sign-in from a trusted device (see staff/trusted-device.ts) counts against
 * that device alone, 5 failures in 15 minutes: others spending an email's
 * tries do not lock its owner out. On a shared store that fails, the
 * counting goes on in this process.
 */
export function createSignInLimits(deps: { store: LimitStore }) {
  const limiters = {
    email: deps.store.limiter('signin-email', SIGN_IN_LIMITS.email.points, SIGN_IN_LIMITS.email.durationSeconds),
    ip: deps.store.limiter('signin-ip', SIGN_IN_LIMITS.ip.points, SIGN_IN_LIMITS.ip.durationSeconds),
    device: deps.store.limiter('signin-device', SIGN_IN_LIMITS.device.points, SIGN_IN_LIMITS.device.durationSeconds),
  };
  /** The buckets a sign-in counts against, each with the store's key for it. */
  const bucketsOf = (attempt: SignInCount) =>
    attempt.device !== undefined
      ? [{ name: 'device' as const, key: keyOf(attempt.device) }]
      : [
          { name: 'email' as const, key: keyOf(attempt.email.trim().toLowerCase()) },
          { name: 'ip' as const, key: keyOf(attempt.ip) },
        ];

  return {
    /** Seconds until this sign-in may be tried again; undefined when it may be tried now. */
    async retryAfter(attempt: SignInCount): Promise<number | undefined> {
      const buckets = bucketsOf(attempt);
      const counts = await Promise.all(buckets.map((bucket) => limiters[bucket.name].get(bucket.key)));
      const waits = counts.flatMap((count, index) => (count && count.consumedPoints >= SIGN_IN_LIMITS[buckets[index]!.name].points ? [retryAfterSeconds(count)] : []));
      return waits.length ? Math.max(...waits) : undefined;
    },

    /** Counts a failed sign-in. */
    async failed(attempt: SignInCount): Promise<void> {
      const spent = (reason: unknown) => {
        if (!isLimitReached(reason)) throw reason;
      };
      await Promise.all(bucketsOf(attempt).map((bucket) => limiters[bucket.name].consume(bucket.key).catch(spent)));
    },
  };
}

export type SignInLimits = ReturnType<typeof createSignInLimits>;
