import { createHash, randomBytes } from 'node:crypto';

import type { Context } from 'koa';

/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device
 * Cookies"): once a staff member signs in, their browser keeps a cookie
 * naming them, signed with the cookie keys (which never live in the database
 * in clear). A later sign-in to that same account from that browser is a
 * sign-in from a trusted device: it is limited per device (and per account,
 * across all its devices) instead of per email and address, and its password
 * check is served before the queue of everyone else's. So a flood of
 * guesses, or someone spending an account's five tries, neither locks the
 * staff member out nor makes them queue behind the flood.
 *
 * The cookie names an account, so it trusts nothing for another one; it only
 * counts once the email typed is that account's, so it tells an attacker
 * nothing about which emails exist. It carries when it was issued (refused
 * after 90 days, whatever the browser keeps) and a tag of the account's
 * password hash, so a new password ends every device's trust.
 */
export const DEVICE_COOKIE = 'octiv_device';
export const DEVICE_MAX_AGE_SECONDS = 90 * 24 * 60 * 60;
/** Only the sign-in form's posts need it. */
const COOKIE_PATH = '/oauth/interaction';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A browser's device cookie, as signed: the account it signed in to, when, and the cookie itself (the per-device limit's key). */
export interface Device {
  staffId: string;
  issuedAt: number;
  passwordTag: string;
  value: string;
}

/** A short tag of a password hash (itself salted): changes whenever the password does, and reveals nothing of it. */
export function passwordTag(passwordHash: string): string {
  return createHash('sha256').update(`octiv-device:${passwordHash}`).digest('base64url').slice(0, 16);
}

/** The device cookie the request carries, when its signature holds and its layout is ours. */
export function deviceOf(ctx: Context): Device | undefined {
  const value = ctx.cookies.get(DEVICE_COOKIE, { signed: true });
  const [staffId, issued, tag, random, ...rest] = value?.split('.') ?? [];
  if (!value || !staffId || !UUID.test(staffId) || !issued || !/^\d+$/.test(issued) || !tag || !random || rest.length) return undefined;
  return { staffId, issuedAt: Number(issued), passwordTag: tag, value };
}

/** Whether a device cookie still vouches for this account: its own, not expired, and issued under the current password. */
export function vouchesFor(device: Device | undefined, account: { id: string; passwordHash: string }, now = Date.now()): boolean {
  return (
    device !== undefined &&
    device.staffId === account.id &&
    now / 1000 - device.issuedAt < DEVICE_MAX_AGE_SECONDS &&
    device.passwordTag === passwordTag(account.passwordHash)
  );
}

/** After a sign-in: a new device cookie for this account (each sign-in gets a fresh one). */
export function rememberDevice(ctx: Context, account: { id: string; passwordHash: string }, options: { https: boolean }): void {
  const value = [account.id, Math.floor(Date.now() / 1000), passwordTag(account.passwordHash), randomBytes(16).toString('base64url')].join('.');
  ctx.cookies.set(DEVICE_COOKIE, value, {
    signed: true,
    httpOnly: true,
    sameSite: 'strict',
    // As the provider's own cookies: from PUBLIC_URL, not from how the request reached us.
    secure: options.https,
    path: COOKIE_PATH,
    maxAge: DEVICE_MAX_AGE_SECONDS * 1000,
    overwrite: true,
  });
}
