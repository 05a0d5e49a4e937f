import { randomBytes } from 'node:crypto';

import type { Context } from 'koa';

/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device
 * Cookies"): once a staff member signs in, their browser keeps a cookie
 * naming them, signed with the cookie keys (which never live in the database
 * in clear). A later sign-in to that same account from that browser is a
 * sign-in from a trusted device: it is limited per device instead of per
 * email and address, and its password check has a lane of its own. So a
 * flood of guesses, or someone spending an account's five tries, neither
 * locks the staff member out nor makes them queue behind the flood.
 *
 * The cookie names an account, so it trusts nothing for another one; and it
 * only counts once the email typed is that account's, so it tells an
 * attacker nothing about which emails exist.
 */
export const DEVICE_COOKIE = 'octiv_device';
const MAX_AGE_MS = 90 * 24 * 60 * 60 * 1000;
/** Only the sign-in form's posts need it. */
const COOKIE_PATH = '/oauth/interaction';

/** A browser's device cookie: the account it signed in to, and the cookie itself (the per-device limit's key). */
export interface Device {
  staffId: string;
  value: string;
}

/** The device cookie the request carries, when its signature holds. */
export function deviceOf(ctx: Context): Device | undefined {
  const value = ctx.cookies.get(DEVICE_COOKIE, { signed: true });
  const staffId = value?.split('.')[0];
  return value && staffId ? { staffId, value } : undefined;
}

/** After a sign-in: a new device cookie for this account (each sign-in gets a fresh one). */
export function rememberDevice(ctx: Context, staffId: string): void {
  ctx.cookies.set(DEVICE_COOKIE, `${staffId}.${randomBytes(16).toString('base64url')}`, {
    signed: true,
    httpOnly: true,
    sameSite: 'lax',
    secure: ctx.secure,
    path: COOKIE_PATH,
    maxAge: MAX_AGE_MS,
    overwrite: true,
  });
}
