import { AppError } from '../http/errors.js';

/**
 * A cap on password work (scrypt, ~50 ms of CPU each): at most `concurrent`
 * checks at once and `queue` waiting; past that, a sign-in is refused at once
 * with 503 and Retry-After instead of queueing behind a flood. So a flood of
 * sign-ins can take one core at most, and an honest sign-in waits for a few
 * checks, not for all of them; the Leads API keeps the other core.
 */
export function createPasswordGate(options: { concurrent: number; queue: number }) {
  let running = 0;
  const waiting: (() => void)[] = [];

  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  };

  return async function withPasswordWork<T>(work: () => Promise<T>): Promise<T> {
    if (running >= options.concurrent) {
      if (waiting.length >= options.queue) {
        throw new AppError({
          status: 503,
          code: 'busy',
          title: 'Too many sign-ins right now',
          detail: 'Too many sign-ins are being checked right now. Try again in a few seconds.',
          headers: { 'Retry-After': '2' },
        });
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
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
