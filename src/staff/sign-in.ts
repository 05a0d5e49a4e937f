import { DEV_DEFAULTS } from '../config.js';
import type { SignInLimits } from '../limits/sign-in-limits.js';
import type { StaffMember } from './model.js';
import { createPasswordGate } from './password-gate.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { StaffStore } from './store.js';
import type { Device } from './trusted-device.js';

/** One try at the sign-in form. */
export interface SignInAttempt {
  email: string;
  password: string;
  ip: string;
  /** The browser's device cookie, if it has one (see trusted-device.ts). */
  device: Device | undefined;
}

/**
 * A sign-in's outcome: the staff member; a refusal naming the account tried
 * (when the email is one); or a refusal by the limits, before any password
 * work. `trustedDevice` says whether the browser's device cookie counted.
 */
export type SignInResult =
  | { ok: true; staff: StaffMember; trustedDevice: boolean }
  | { ok: false; limited: false; account: StaffMember | undefined; trustedDevice: boolean }
  | { ok: false; limited: true; retryAfter: number; trustedDevice: boolean };

/**
 * Checks an email and password. Unknown emails cost the same scrypt work as
 * known ones, so timing does not tell them apart either. In production the
 * demo password is refused even if a demo account somehow exists. The
 * caller never tells the person signing in which of the two was wrong.
 *
 * The limits come first: per email and per address, or, from a trusted
 * device (a browser that signed in to this very account before), per
 * device. Then the password check, one at a time and a few waiting, so a
 * flood takes one core, not the process; trusted devices have a lane of
 * their own, so an honest sign-in does not queue behind a flood.
 */
export function createSignIn(deps: { staffStore: StaffStore; production: boolean; limits: SignInLimits | undefined }) {
  const { limits } = deps;
  // A real hash of a random password, computed once, for unknown emails.
  const dummyHash = hashPassword(crypto.randomUUID());
  const lanes = {
    anyone: createPasswordGate({ concurrent: 1, queue: 8 }),
    trusted: createPasswordGate({ concurrent: 1, queue: 8 }),
  };
  return async function signIn(attempt: SignInAttempt): Promise<SignInResult> {
    const email = attempt.email.trim();
    const found = email ? await deps.staffStore.findCredentialsByEmail(email) : undefined;
    const trustedDevice = found !== undefined && attempt.device?.staffId === found.member.id;
    const counted = { email, ip: attempt.ip, device: trustedDevice ? attempt.device!.value : undefined };
    const retryAfter = limits ? await limits.retryAfter(counted) : undefined;
    if (retryAfter !== undefined) return { ok: false, limited: true, retryAfter, trustedDevice };
    const gate = trustedDevice ? lanes.trusted : lanes.anyone;
    const matches = email !== '' && attempt.password !== '' && (await gate(async () => verifyPassword(attempt.password, found?.passwordHash ?? (await dummyHash))));
    if (!found || !matches || (deps.production && attempt.password === DEV_DEFAULTS.demoPassword)) {
      await limits?.failed(counted);
      return { ok: false, limited: false, account: found?.member, trustedDevice };
    }
    return { ok: true, staff: found.member, trustedDevice };
  };
}

export type SignIn = ReturnType<typeof createSignIn>;
