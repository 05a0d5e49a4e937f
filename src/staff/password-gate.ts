import { AppError } from '../http/errors.js';

/**
 * A cap on password work (scrypt, ~50 ms of CPU each): at most `concurrent`
 * checks at once and `queue` waiting; past that, a sign-in is refused at once
 * with 503 and Retry-After instead of queueing behind a flood. So a flood of
 * sign-ins can take one core at most, and an honest sign-in waits for a few
 * checks, not for all of them; the Leads API keeps the other core.
 *
 * Sign-ins from trusted devices (see trusted-device.ts) wait in a queue of
 * their own that is served first, of the same length: under a flood of
 * guesses they wait for the check in progress, not behind the flood, and
 * still take no more than the one core.
 */
export function createPasswordGate(options: { concurrent: number; queue: number }) {
  let running = 0;
  const waiting = { normal: [] as (() => void)[], priority: [] as (() => void)[] };

  const release = () => {
    const next = waiting.priority.shift() ?? waiting.normal.shift();
    if (next) next();
    else running -= 1;
  };

  return async function withPasswordWork<T>(work: () => Promise<T>, admission: { priority: boolean } = { priority: false }): Promise<T> {
    if (running >= options.concurrent) {
      const queue = admission.priority ? waiting.priority : waiting.normal;
      if (queue.length >= options.queue) {
        throw new AppError({
          status: 503,
          code: 'busy',
          title: 'Too many sign-ins right now',
          detail: 'Too many sign-ins are being checked right now. Try again in a few seconds.',
          headers: { 'Retry-After': '2' },
        });
      }
      await new Promise<void>((resolve) => queue.push(resolve));
    } else {
      running += 1;
    }
    try {
      return await work();
    } finally {
      release();
    }
  };
}

export type PasswordGate = ReturnType<typeof createPasswordGate>;
