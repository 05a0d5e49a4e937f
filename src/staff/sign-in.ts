import { DEV_DEFAULTS } from '../config.js';
import type { StaffMember } from './model.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { StaffStore } from './store.js';

/**
 * Checks an email and password. Unknown emails cost the same scrypt work as
 * known ones, so timing does not tell them apart either. In production the
 * demo password is refused even if a demo account somehow exists.
 */
export function createSignIn(deps: { staffStore: StaffStore; production: boolean }) {
  // A real hash of a random password, computed once, for unknown emails.
  const dummyHash = hashPassword(crypto.randomUUID());
  return async function signIn(email: string, password: string): Promise<StaffMember | undefined> {
    const found = await deps.staffStore.findCredentialsByEmail(email.trim());
    const matches = await verifyPassword(password, found?.passwordHash ?? (await dummyHash));
    if (!found || !matches) return undefined;
    if (deps.production && password === DEV_DEFAULTS.demoPassword) return undefined;
    return found.member;
  };
}

export type SignIn = ReturnType<typeof createSignIn>;
