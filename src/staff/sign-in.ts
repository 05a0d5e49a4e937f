import { DEV_DEFAULTS } from '../config.js';
import type { StaffMember } from './model.js';
import { createPasswordGate } from './password-gate.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { StaffStore } from './store.js';

/** A sign-in's outcome: the staff member, or a refusal naming the account tried (when the email is one). */
export type SignInResult = { ok: true; staff: StaffMember } | { ok: false; account: StaffMember | undefined };

/**
 * Checks an email and password. Unknown emails cost the same scrypt work as
 * known ones, so timing does not tell them apart either. In production the
 * demo password is refused even if a demo account somehow exists. The
 * caller never tells the person signing in which of the two was wrong.
 */
export function createSignIn(deps: { staffStore: StaffStore; production: boolean }) {
  // A real hash of a random password, computed once, for unknown emails.
  const dummyHash = hashPassword(crypto.randomUUID());
  // One password check at a time, a few waiting: a flood takes one core, not the process.
  const gate = createPasswordGate({ concurrent: 1, queue: 8 });
  return async function signIn(email: string, password: string): Promise<SignInResult> {
    const found = await deps.staffStore.findCredentialsByEmail(email.trim());
    const matches = await gate(async () => verifyPassword(password, found?.passwordHash ?? (await dummyHash)));
    if (!found || !matches || (deps.production && password === DEV_DEFAULTS.demoPassword)) return { ok: false, account: found?.member };
    return { ok: true, staff: found.member };
  };
}

export type SignIn = ReturnType<typeof createSignIn>;
