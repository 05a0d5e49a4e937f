import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/**
 * Screenshots of the console walk-through: into docs/screenshots (which
 * docs/console.md shows) when UPDATE_SCREENSHOTS=1, else into
 * dist/screenshots, so that a test run leaves the work tree as it was.
 */
export const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.resolve(import.meta.dirname, '../../../docs/screenshots') : path.resolve(import.meta.dirname, '../../screenshots');

/** Debian's Chromium, headless, with the flags this machine's closed network needs. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A screenshot: of the whole page, or of the viewport while a dialog is open
 * (a dialog is fixed to the viewport). A once-shown secret's field (an API
 * key, a webhook signing secret: `data-secret`) is masked, since a secret
 * never goes into a snapshot.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const dialogOpen = (await page.locator('[role="dialog"]').count()) > 0;
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: !dialogOpen, mask: [page.locator('[data-secret]')], maskColor: '#c9d3dd' });
}

/** Signs in through the console: /console -> the login page -> back. */
export async function signInThroughConsole(page: Page, baseUrl: string, email: string, password = 'demo-password'): Promise<void> {
  await page.goto(`${baseUrl}/console/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/console\/(?!callback)/);
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}
