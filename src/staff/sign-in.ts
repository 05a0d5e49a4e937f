import { DEV_DEFAULTS } from '../config.js';
import type { SignInLimits, SignInTicket } from '../limits/sign-in-limits.js';
import type { StaffMember } from './model.js';
import { createPasswordGate } from './password-gate.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { StaffStore } from './store.js';
import { vouchesFor, type Device } from './trusted-device.js';

/** One try at the sign-in form. */
export interface SignInAttempt {
  email: string;
  password: string;
  ip: string;
  /** The browser's device cookie, if it has one (see trusted-device.ts). */
  device: Device | undefined;
}

/**
 * A sign-in's outcome: the staff member (and its password hash, for the
 * device cookie); a refusal naming the account tried (when the email is
 * one); or a refusal by the limits, before any password work.
 * `trustedDevice` says whether the browser's device cookie counted.
 */
export type SignInResult =
  | { ok: true; staff: StaffMember; passwordHash: string; trustedDevice: boolean }
  | { ok: false; limited: false; account: StaffMember | undefined; trustedDevice: boolean }
  | { ok: false; limited: true; retryAfter: number; trustedDevice: boolean };

/**
 * Checks an email and password. Unknown emails cost the same scrypt work as
 * known ones, so timing does not tell them apart either. In production the
 * demo password is refused even if a demo account somehow exists. The
 * caller never tells the person signing in which of the two was wrong.
 *
 * The limits come first: per email and per address, checked before the
 * account is even looked up; or, when the browser's device cookie vouches
 * for the account typed, per device and per account. Then the password
 * check, one at a time and a few waiting, so a flood takes one core, not
 * the process; a trusted device's check is served before the others' (one
 * per account at a time: more wait with everyone else), so an honest
 * sign-in does not queue behind a flood.
 */
export function createSignIn(deps: { staffStore: StaffStore; production: boolean; limits: SignInLimits | undefined }) {
  const { limits } = deps;
  // A real hash of a random password, computed once, for unknown emails.
  const dummyHash = hashPassword(crypto.randomUUID());
  const gate = createPasswordGate({ concurrent: 1, queue: 8 });
  /** Accounts with a trusted-device check queued or running. */
  const prioritized = new Set<string>();

  return async function signIn(attempt: SignInAttempt): Promise<SignInResult> {
    const email = attempt.email.trim();
    const lookUp = async () => (email ? await deps.staffStore.findCredentialsByEmail(email) : undefined);
    // With a device cookie, the account comes first: the cookie counts only for the account typed.
    const claimed = attempt.device ? await lookUp() : undefined;
    const trusted = claimed && vouchesFor(attempt.device, { id: claimed.member.id, passwordHash: claimed.passwordHash }) ? claimed.member : undefined;
    const trustedDevice = trusted !== undefined;
    let ticket: SignInTicket | undefined;
    if (limits) {
      const taken = await limits.take(trusted ? { trusted: { device: attempt.device!.value, staffId: trusted.id } } : { email, ip: attempt.ip });
      if ('retryAfter' in taken) return { ok: false, limited: true, retryAfter: taken.retryAfter, trustedDevice };
      ticket = taken;
    }
    // Without a device cookie the limits above ran before the look-up: a refused try reads nothing.
    const found = attempt.device ? claimed : await lookUp();

    const priority = trusted !== undefined && !prioritized.has(trusted.id);
    if (priority) prioritized.add(trusted.id);
    let matches = false;
    try {
      matches = email !== '' && attempt.password !== '' && (await gate(async () => verifyPassword(attempt.password, found?.passwordHash ?? (await dummyHash)), { priority }));
    } catch (error) {
      // Refused unchecked (the gate is full: 503): no failure to count.
      await ticket?.giveBack();
      throw error;
    } finally {
      if (priority) prioritized.delete(trusted.id);
    }
    if (!found || !matches || (deps.production && attempt.password === DEV_DEFAULTS.demoPassword)) {
      return { ok: false, limited: false, account: found?.member, trustedDevice };
    }
    await ticket?.giveBack();
    return { ok: true, staff: found.member, passwordHash: found.passwordHash, trustedDevice };
  };
}

export type SignIn = ReturnType<typeof createSignIn>;
