import { isLimitReached, retryAfterSeconds, type LimitStore } from './store.js';

/**
 * API.md "Limits": failed sign-ins per email and per address, in 15 minutes;
 * from a trusted device, per device and per account (all its trusted
 * devices together) instead.
 */
export const SIGN_IN_LIMITS = {
  email: { points: 5, durationSeconds: 15 * 60 },
  ip: { points: 50, durationSeconds: 15 * 60 },
  device: { points: 5, durationSeconds: 15 * 60 },
  trustedAccount: { points: 20, durationSeconds: 15 * 60 },
} as const;

type Bucket = keyof typeof SIGN_IN_LIMITS;

/**
 * Who a sign-in counts against: its email and address; or, from a trusted
 * device, that device (its cookie) and the account it vouches for.
 */
export type SignInCount = { email: string; ip: string } | { trusted: { device: string; staffId: string } };

/** A try the limits let through: its points are taken (a failure keeps them); `giveBack` returns them (a right password, or a try never checked). */
export interface SignInTicket {
  giveBack(): Promise<void>;
}

/**
 * Sign-in limits, checked before any password work: after 5 failures for one
 * email (whether it exists or not, whatever the password) that email is
 * refused for the rest of the 15 minutes; one address may fail 50 times. A
 * sign-in from a trusted device (see staff/trusted-device.ts) counts against
 * that device (5) and that account's trusted devices together (20), not the
 * email and address: others spending an email's tries do not lock its owner
 * out, and no number of minted device cookies gives more than 20 guesses.
 *
 * A try takes its point before the password check and gives it back when
 * the password was right, so a burst of tries sent at once cannot pass the
 * limit either. On a shared store that fails, the counting goes on in this
 * process.
 */
export function createSignInLimits(deps: { store: LimitStore }) {
  const limiters = Object.fromEntries(
    (Object.keys(SIGN_IN_LIMITS) as Bucket[]).map((name) => [name, deps.store.limiter(`signin-${name}`, SIGN_IN_LIMITS[name].points, SIGN_IN_LIMITS[name].durationSeconds)]),
  ) as Record<Bucket, ReturnType<LimitStore['limiter']>>;
  const bucketsOf = (count: SignInCount): { name: Bucket; key: string }[] =>
    'trusted' in count
      ? [
          { name: 'device', key: deps.store.keyOf(count.trusted.device) },
          { name: 'trustedAccount', key: count.trusted.staffId },
        ]
      : [
          { name: 'email', key: deps.store.keyOf(count.email.trim().toLowerCase()) },
          { name: 'ip', key: deps.store.keyOf(count.ip) },
        ];
  const giveBack = (buckets: { name: Bucket; key: string }[]) => Promise.all(buckets.map((bucket) => limiters[bucket.name].reward(bucket.key, 1)));

  return {
    /**
     * Takes this try's point from each of its buckets: a ticket, or the
     * seconds until it may be tried again (then nothing is counted: a refused
     * try is no failure).
     */
    async take(count: SignInCount): Promise<SignInTicket | { retryAfter: number }> {
      const buckets = bucketsOf(count);
      const spent = (reason: unknown) => {
        if (!isLimitReached(reason)) throw reason;
        return retryAfterSeconds(reason);
      };
      const results = await Promise.all(buckets.map((bucket) => limiters[bucket.name].consume(bucket.key).then(() => undefined, spent)));
      const waits = results.filter((wait): wait is number => wait !== undefined);
      if (waits.length) {
        // Over a limit: this try is refused, and counts for nothing.
        await giveBack(buckets);
        return { retryAfter: Math.max(...waits) };
      }
      return { giveBack: async () => void (await giveBack(buckets)) };
    },
  };
}

export type SignInLimits = ReturnType<typeof createSignInLimits>;
