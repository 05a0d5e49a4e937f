import { setTimeout as pause } from 'node:timers/promises';

/** What a check gives when it is satisfied. */
export type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

export interface EventuallyOptions {
  /** How long to keep checking before giving up (default 10 s: a busy CI machine, not a slow feature). */
  timeoutMs?: number;
  /** The pause between two checks (default 25 ms). */
  intervalMs?: number;
  /** What is awaited, for the message when it never comes. */
  what?: string;
}

/**
 * Checks `check` until it gives a truthy value, and returns that value; throws
 * once `timeoutMs` has passed without one, naming `what` and the last value
 * seen. For a test that waits for something another process or connection
 * does: poll for the thing itself, never sleep a fixed time and hope. An error
 * thrown by `check` ends the wait at once (a broken check is not a slow one).
 */
export async function eventually<T>(check: () => T | Promise<T>, options: EventuallyOptions = {}): Promise<Truthy<T>> {
  const { timeoutMs = 10_000, intervalMs = 25, what = 'the condition' } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Truthy<T>;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${describe(value)}`);
    await pause(intervalMs);
  }
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
