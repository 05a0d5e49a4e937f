import { randomUUID } from 'node:crypto';
import { access } from 'node:fs/promises';

import { AxeBuilder } from '@axe-core/playwright';
import test, { type ExecutionContext } from 'ava';
import type { Browser, Locator, Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';

import { api } from './helpers/oauth.js';
import { CHROMIUM, launchChromium, screenshot, signInThroughConsole } from './helpers/browser-ui.js';
import { eventually } from './helpers/eventually.js';
import { createKey } from './helpers/keys.js';
import { startReceiver } from './helpers/receiver.js';
import { DEMO, startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let browser: Browser;

/**
 * The page's title once it reads `expected`, or whatever it reads after 5 s:
 * the console sets `document.title` in an effect, just after the page's
 * heading shows.
 */
async function titleOnceSet(page: Page, expected: string): Promise<string> {
  await page.waitForFunction((title) => document.title === title, expected, { timeout: 5_000 }).catch(() => undefined);
  return page.title();
}

test.before(async () => {
  // A missing browser is a failure, not a skip: .ci/run installs Debian's chromium.
  await access(CHROMIUM).catch(() => {
    throw new Error(`The console tests need Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH).`);
  });
  server = await startTestServer();
  browser = await launchChromium();
});
test.after.always(async () => {
  await browser?.close();
  await server?.close();
});

const SI = '/console/settings/system-integrations';
const SWITCH = 'I have copied my API key and stored it securely';

/**
 * Runs `work` on a fresh page (its own cookies and clipboard), closed
 * afterwards whatever happens. Anything the page logs as an error (a
 * Content-Security-Policy refusal, a failed script) fails the test.
 */
async function withPage(t: ExecutionContext, work: (page: Page) => Promise<void>, viewport = { width: 1280, height: 860 }): Promise<void> {
  const context = await browser.newContext({ viewport });
  const errors: string[] = [];
  try {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    const page = await context.newPage();
    page.on('console', (message) => {
      // The API's 4xx answers (a duplicate name, a lost permission) are the console's to explain; they are not page errors.
      if (message.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(error.message));
    await work(page);
  } finally {
    await context.close();
  }
  t.deepEqual(errors, [], 'nothing logged as an error in the browser');
}

/** axe-core on the page as it is now (every page and dialog state the tests reach): any violation fails. */
async function accessible(t: ExecutionContext, page: Page, state: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  t.deepEqual(
    results.violations.map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`),
    [],
    `axe: ${state}`,
  );
}

/** Fills the create dialog with a key name and asks for the key. */
async function generateKey(page: Page, name: string): Promise<void> {
  await page.getByRole('button', { name: 'Create API Key' }).click();
  await page.getByLabel('Key Name').fill(name);
  await page.getByRole('button', { name: 'Generate Key' }).click();
}

/** Acknowledges the once-shown key and closes its dialog. */
async function acknowledge(page: Page, title = 'API Key Created'): Promise<void> {
  const dialog = page.getByRole('dialog', { name: title });
  await dialog.getByRole('switch', { name: SWITCH }).click();
  await dialog.getByRole('button', { name: 'Done' }).click();
  await dialog.waitFor({ state: 'detached' });
}

test.serial('the help page, end to end: grant, create, copy, list, use, delete, sign out', async (t) => {
  await withPage(t, async (page) => {
    // A signed-out visitor is sent through /oauth login and back.
    await page.goto(`${server.url}/console/`);
    await page.waitForURL(/\/oauth\/interaction\//);
    await screenshot(page, '01-sign-in');
    await accessible(t, page, 'sign-in page');
    await page.getByLabel('Email').fill('owner@demo.test');
    await page.getByLabel('Password').fill('demo-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Welcome, Olivia Owner' }).waitFor();
    t.notRegex(page.url(), /code=|state=/, 'no code or state left in the URL');
    t.regex(await page.evaluate(() => JSON.stringify(sessionStorage)), /accessToken/, 'the token is kept in session storage');
    t.is(await titleOnceSet(page, 'Home · Octiv'), 'Home · Octiv');
    t.truthy(await page.getByRole('banner').getByText('Demo Fitness').isVisible(), 'the facility is named in the header');
    t.regex(await page.getByRole('main').innerText(), /Octiv console of Demo Fitness/);
    await accessible(t, page, 'home');

    // Staff > View/Edit > Access: the Owner grants System Integrations to the Admin.
    await page.getByRole('navigation').getByRole('link', { name: 'Staff' }).click();
    await page.getByRole('cell', { name: 'Adam Admin', exact: true }).waitFor();
    t.is(await titleOnceSet(page, 'Staff · Octiv'), 'Staff · Octiv');
    await screenshot(page, '02-staff');
    await accessible(t, page, 'staff list');
    await page.getByRole('button', { name: 'Actions for Adam Admin' }).click();
    await accessible(t, page, 'staff actions menu open');
    await page.getByRole('menuitem', { name: 'View/Edit' }).click();
    await page.getByRole('tab', { name: 'Access' }).click();
    const checkbox = page.getByRole('group', { name: 'Octiv Access' }).getByRole('checkbox', { name: 'System Integrations', exact: true });
    t.false(await checkbox.isChecked());
    t.truthy(await page.getByText('Ability to use oAuth Personal Access Tokens for machine-to-machine communications').isVisible());
    await accessible(t, page, 'access tab');
    await checkbox.check();
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByRole('status').getByText('System Integrations is now on for Adam Admin.').waitFor();
    await screenshot(page, '03-access-tab');
    t.true((await server.db('staff').where({ email: 'admin@demo.test' }).first()).system_integrations);

    // Granting it to a Trainer works, with the warning from the API.
    await page.goto(`${server.url}/console/staff`);
    await page.getByRole('button', { name: 'Actions for Theo Trainer' }).click();
    await page.getByRole('menuitem', { name: 'View/Edit' }).click();
    await page.getByRole('tab', { name: 'Access' }).click();
    await page.getByRole('checkbox', { name: 'System Integrations' }).check();
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByRole('status').getByText(/Trainers rarely need to manage API keys/).waitFor();
    await screenshot(page, '04-trainer-warning');
    await page.getByRole('checkbox', { name: 'System Integrations' }).uncheck();
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByRole('status').getByText('System Integrations is now off for Theo Trainer.').waitFor();

    // Settings is a page of its own, leading to System Integrations.
    await page.getByRole('navigation').getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    t.is(await titleOnceSet(page, 'Settings · Octiv'), 'Settings · Octiv');
    await accessible(t, page, 'settings');
    await page.getByRole('main').getByRole('link', { name: 'System Integrations' }).click();
    await page.getByRole('heading', { name: 'API Keys' }).waitFor();
    t.is(await titleOnceSet(page, 'System Integrations · Octiv'), 'System Integrations · Octiv');
    await page.getByText('No API keys yet.').waitFor();
    // How to connect a system is on the page before any key exists.
    t.truthy(await page.getByRole('heading', { name: 'Connect your system' }).isVisible());
    t.truthy(await page.getByText(`${server.url}/api/v1/leads`, { exact: true }).first().isVisible());
    await accessible(t, page, 'system integrations, no keys');

    // Create a key.
    await page.getByRole('button', { name: 'Create API Key' }).click();
    const create = page.getByRole('dialog', { name: 'Create API Key' });
    await create.waitFor();
    t.is(await page.getByLabel('Key Name').getAttribute('placeholder'), 'Landing Page Connector');
    t.true(await page.getByLabel('Key Name').evaluate((input) => input === document.activeElement), 'focus moves into the dialog');
    t.regex(await create.innerText(), /For Demo Fitness/);
    await page.getByLabel('Key Name').fill('Landing Page Connector');
    await page.getByRole('checkbox', { name: 'leads:create' }).check();
    await create.getByRole('radio', { name: 'In 90 days' }).check();
    await screenshot(page, '05-create-dialog');
    await accessible(t, page, 'create dialog');
    await create.getByRole('button', { name: 'Generate Key' }).click();

    // API Key Created: Done stays disabled until the toggle; Copy puts the key on the clipboard; how to connect is right there.
    const created = page.getByRole('dialog', { name: 'API Key Created' });
    await created.waitFor();
    const key = await page.getByRole('textbox', { name: 'API key' }).inputValue();
    t.regex(key, /^oct_pat_[0-9A-Za-z]{49}$/);
    const done = created.getByRole('button', { name: 'Done' });
    t.true(await done.isDisabled());
    await page.keyboard.press('Escape');
    t.true(await created.isVisible(), 'Escape does not skip the confirmation');
    await created.getByRole('button', { name: 'Copy', exact: true }).click();
    await created.getByText('Copied to the clipboard.').waitFor();
    t.is(await page.evaluate(() => navigator.clipboard.readText()), key);
    t.truthy(await created.getByText('Authorization: Bearer <the API key>').isVisible());
    await created.getByRole('button', { name: 'Copy example' }).click();
    t.regex(await page.evaluate(() => navigator.clipboard.readText()), new RegExp(`^curl -sS ${server.url}/api/v1/leads`));
    t.true(await done.isDisabled());
    await screenshot(page, '06-key-created');
    await accessible(t, page, 'key created dialog');
    const toggle = created.getByRole('switch', { name: SWITCH });
    t.is(await toggle.getAttribute('aria-checked'), 'false');
    await toggle.click();
    t.is(await toggle.getAttribute('aria-checked'), 'true');
    t.false(await done.isDisabled());
    await done.click();
    await created.waitFor({ state: 'detached' });

    // The list: name, hint, scope, created (date, time, by whom), last use, expiry; never the key.
    const row = page.getByRole('row', { name: /Landing Page Connector/ });
    await row.waitFor();
    t.truthy(await row.getByRole('cell', { name: 'leads:create', exact: true }).isVisible());
    const rowText = await row.innerText();
    t.regex(rowText, new RegExp(`oct_pat_…${key.slice(-4)}`));
    t.regex(rowText, /\d{1,2}:\d\d (AM|PM)/, 'created to the minute');
    t.regex(rowText, /by Olivia Owner/);
    t.regex(rowText, /Never/, 'never used yet');
    t.false((await page.content()).includes(key), 'the key is gone from the page');
    t.false((await page.content()).includes(key.slice(8, 30)));
    await screenshot(page, '07-key-list');
    await accessible(t, page, 'system integrations with a key');

    // The key works against the Leads API.
    const lead = await api(server, '/api/v1/leads', {
      body: { firstName: 'Console', lastName: 'Walkthrough', email: 'console.walkthrough@example.com' },
      headers: { Authorization: `Bearer ${key}` },
    });
    t.is(lead.status, 201);
    await server.flushUsage();

    // Delete Key: the dialog says what the key did; the key is refused at once.
    await page.reload();
    await page.getByRole('button', { name: 'Delete Landing Page Connector' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete Key' });
    await confirm.waitFor();
    const confirmText = await confirm.innerText();
    t.regex(confirmText, /immediate and cannot be undone/);
    t.regex(confirmText, /from Demo Fitness/);
    t.regex(confirmText, /Created 1 lead; last used just now from 127\.0\.0\.1\./, 'what the key did');
    await screenshot(page, '08-delete-confirm');
    await accessible(t, page, 'delete dialog');
    await confirm.getByRole('button', { name: 'Delete Key' }).click();
    await confirm.waitFor({ state: 'detached' });
    await page.getByText('No API keys yet.').waitFor();
    const refused = await api(server, '/api/v1/leads', {
      body: { firstName: 'Too', lastName: 'Late', email: 'too.late@example.com' },
      headers: { Authorization: `Bearer ${key}` },
    });
    t.is(refused.status, 401);
    await screenshot(page, '09-key-deleted');

    // Sign out ends the session and says so; the next visit asks for a password again.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
    t.is(await titleOnceSet(page, 'You are signed out · Octiv'), 'You are signed out · Octiv');
    await accessible(t, page, 'signed out');
    t.is(await page.evaluate(() => sessionStorage.getItem('octiv.session')), null);
    await page.goto(`${server.url}/console/`);
    await page.waitForURL(/\/oauth\/interaction\//);
    t.truthy(await page.getByLabel('Password').isVisible());
  });
});

test.serial('rotate a key, then end its grace period, from the console', async (t) => {
  const owner = await (await import('./helpers/oauth.js')).signIn(server, 'owner@demo.test');
  const first = await createKey(server, owner, 'CRM To Rotate');
  await withPage(t, async (page) => {
    await signInThroughConsole(page, server.url, 'owner@demo.test');
    await page.goto(`${server.url}${SI}`);
    await page.getByRole('button', { name: 'Rotate CRM To Rotate' }).click();
    const rotate = page.getByRole('dialog', { name: 'Rotate Key' });
    await rotate.waitFor();
    t.true(await rotate.getByRole('radio', { name: 'Keep it working for 1 day' }).isChecked(), 'a day of grace unless told otherwise');
    await accessible(t, page, 'rotate dialog');
    await rotate.getByRole('radio', { name: 'Keep it working for 1 hour' }).check();
    await rotate.getByRole('button', { name: 'Rotate Key' }).click();
    const shown = page.getByRole('dialog', { name: 'API Key Rotated' });
    await shown.waitFor();
    const second = await shown.getByRole('textbox', { name: 'API key' }).inputValue();
    t.not(second, first.key);
    t.true(await shown.getByRole('button', { name: 'Done' }).isDisabled(), 'the same acknowledgement before Done');
    await acknowledge(page, 'API Key Rotated');

    const row = page.getByRole('row', { name: /CRM To Rotate/ });
    await row.getByText('Rotating').waitFor();
    t.regex(await row.innerText(), /Old key: .*stops in (59 minutes|1 hour)/);
    const post = (key: string) =>
      api(server, '/api/v1/leads', { body: { firstName: 'R', lastName: 'K', email: `rotate.${Math.random()}@example.com` }, headers: { Authorization: `Bearer ${key}` } });
    t.is((await post(first.key)).status, 201, 'the old key works during the grace period');
    t.is((await post(second)).status, 201);
    await screenshot(page, '15-rotating');
    await accessible(t, page, 'a rotating key');

    await row.getByRole('button', { name: 'End grace period now for CRM To Rotate' }).click();
    await page.getByRole('status').getByText('The old key of "CRM To Rotate" stopped working.', { exact: false }).waitFor();
    await row.getByText('Rotating').waitFor({ state: 'detached' });
    t.is((await post(first.key)).status, 401);
    t.is((await post(second)).status, 201);
  });
});

test.serial('Activity: who did what, in plain words, with a key\'s history one click away and a CSV', async (t) => {
  await withPage(t, async (page) => {
    await signInThroughConsole(page, server.url, 'owner@demo.test');
    await page.goto(`${server.url}${SI}`);
    await generateKey(page, 'Audited In Console');
    await acknowledge(page);
    await page.getByRole('link', { name: 'History of Audited In Console' }).click();
    await page.getByRole('heading', { name: 'Activity' }).waitFor();
    t.is(await titleOnceSet(page, 'Activity · Octiv'), 'Activity · Octiv');
    const events = page.getByRole('list', { name: 'Events, newest first' });
    await events.getByText('Olivia Owner created the key “Audited In Console”').waitFor();
    t.is(await events.getByRole('listitem').count(), 1, 'only this key\'s history');
    await accessible(t, page, 'activity, one key');
    // Three failed sign-ins for one account read as one line.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const login = await (await import('./helpers/oauth.js')).startLogin(server);
      await login.submit('trainer@demo.test', 'not-the-password');
    }
    await page.getByLabel('Key').selectOption('');
    await page.getByLabel('What').selectOption('staff.sign_in_failed');
    await page.getByRole('list', { name: 'Events, newest first' }).getByText('3 failed sign-ins for trainer@demo.test').waitFor();
    await screenshot(page, '16-activity');
    await accessible(t, page, 'activity, failed sign-ins');
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download CSV' }).click();
    const file = await download;
    t.is(file.suggestedFilename(), 'activity.csv');
    const csv = await (await file.createReadStream()).toArray();
    t.regex(Buffer.concat(csv).toString('utf8'), /^id,occurredAt,action,/);
  });
});

test.serial('a key\'s page, from its row: facts, its 30 days as an accessible chart with a table of the numbers, refusals in words (1280 and 390 px)', async (t) => {
  const owner = await (await import('./helpers/oauth.js')).signIn(server, 'owner@demo.test');
  const created = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Usage Chart Key', scopes: ['leads:create'], rateLimit: { limit: 6, windowSeconds: 3600 } } });
  const post = (key: string) =>
    api(server, '/api/v1/leads', { body: { firstName: 'C', lastName: 'U', email: `chart.${Math.random()}@example.com` }, headers: { Authorization: `Bearer ${key}` } });
  t.is((await post(created.body.key)).status, 201);
  t.is((await post(created.body.key)).status, 201);
  const rotated = await api(server, `/api/v1/api-keys/${created.body.id}/rotate`, { token: owner, body: { graceSeconds: 0 } });
  t.is((await post(created.body.key)).status, 401);
  t.is((await post(created.body.key)).status, 401);
  t.is((await post(rotated.body.key)).status, 201);
  t.is((await post(rotated.body.key)).status, 201);
  t.is((await post(rotated.body.key)).status, 429);
  // Five days ago: use from before (as a process would have written it).
  const fiveDaysAgo = new Date(Date.now() - 5 * 86_400_000).toISOString().slice(0, 10);
  await server.db('api_key_usage_days').insert({ key_id: created.body.id, day: fiveDaysAgo, outcome: 'accepted', requests: 4 });
  await server.flushUsage();
  const summary = /^Usage Chart Key, the last 30 days: 11 requests, 3 refused \(2 old key after rotation, 1 over the rate limit\), 4 leads created\.$/;
  for (const width of [1280, 390]) {
    await withPage(
      t,
      async (page) => {
        await signInThroughConsole(page, server.url, 'owner@demo.test');
        await page.goto(`${server.url}${SI}`);
        await page.getByRole('link', { name: 'Usage Chart Key', exact: true }).click();
        await page.getByRole('heading', { name: 'Usage Chart Key', level: 1 }).waitFor();
        t.is(await titleOnceSet(page, 'API key · Octiv'), 'API key · Octiv');
        const chart = page.getByRole('img', { name: summary });
        await chart.waitFor();
        const box = await chart.boundingBox();
        t.truthy(box && box.x >= 0 && box.x + box.width <= width && box.height > 100, `${width}px: the chart is on screen`);
        t.is(await page.getByRole('figure', { name: /Requests per day/ }).count(), 1, 'a figure named by its caption');
        t.is(await chart.locator('rect').count(), 4, 'today: accepted, old key and over the limit stacked; five days ago: accepted');
        const words = await page.getByRole('list').filter({ hasText: 'replaced by a rotation' }).innerText();
        t.regex(words, /2 requests with the secret replaced by a rotation, the last on \w{3} \d{1,2} — the system is still using the old key/);
        t.regex(words, /1 request over the key's rate limit/);
        await page.getByText('The numbers, day by day').click();
        const table = page.getByRole('table', { name: 'Leads created, requests and refused requests per day (UTC)' });
        t.is(await table.getByRole('row').count(), 31, 'a header and 30 days');
        t.regex(await table.getByRole('row').last().innerText(), /4\s+7\s+2 old key after rotation, 1 over the rate limit/);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        t.true(overflow <= 0, `${width}px: no horizontal scrolling (${overflow}px)`);
        await screenshot(page, width === 390 ? '18-mobile-key-usage' : '17-key-usage');
        await accessible(t, page, `key page at ${width}px`);
        await page.getByRole('button', { name: 'Delete', exact: true }).click();
        t.regex(await page.getByRole('dialog', { name: 'Delete Key' }).innerText(), /Created 4 leads; last used just now from 127\.0\.0\.1\./);
        await page.getByRole('dialog', { name: 'Delete Key' }).getByRole('button', { name: 'Cancel' }).click();
      },
      { width, height: 860 },
    );
  }
});

test.serial('a rotating key\'s page says when the old key was last used; another facility\'s key is not found', async (t) => {
  const owner = await (await import('./helpers/oauth.js')).signIn(server, 'owner@demo.test');
  const first = await createKey(server, owner, 'Rotating Usage Key');
  await api(server, `/api/v1/api-keys/${first.id}/rotate`, { token: owner, body: { graceSeconds: 3600 } });
  const used = await api(server, '/api/v1/leads', { body: { firstName: 'O', lastName: 'K', email: `old.${Math.random()}@example.com` }, headers: { Authorization: `Bearer ${first.key}` } });
  t.is(used.status, 201);
  await server.flushUsage();
  await withPage(t, async (page) => {
    await signInThroughConsole(page, server.url, 'owner@demo.test');
    await page.goto(`${server.url}${SI}/keys/${first.id}`);
    const card = page.getByRole('region', { name: 'Rotation in progress' });
    await card.waitFor();
    t.regex(await card.innerText(), /The old key keeps working until .* \(in (59 minutes|1 hour)\)\. It was last used just now/);
    await accessible(t, page, 'a rotating key\'s page');
    await card.getByRole('button', { name: 'End grace period now' }).click();
    await card.waitFor({ state: 'detached' });
  });
  await withPage(t, async (page) => {
    await signInThroughConsole(page, server.url, 'owner@other.test');
    await page.goto(`${server.url}${SI}/keys/${first.id}`);
    await page.getByText('There is no such key').waitFor();
    t.false((await page.content()).includes('Rotating Usage Key'));
  });
});

test.serial('a key found in public: the facility is told which, where and when; another facility sees nothing', async (t) => {
  const owner = await (await import('./helpers/oauth.js')).signIn(server, 'owner@demo.test');
  const leaked = await createKey(server, owner, 'Leaked Landing Page');
  await server.db('api_keys').where({ id: leaked.id }).update({
    revoked_at: server.db.fn.now(),
    revoked_reason: 'leaked',
    revoked_by_type: 'secret-scanning',
    revocation_details: JSON.stringify({ url: 'https://github.com/someone/site/blob/main/.env', source: 'content' }),
  });
  await withPage(t, async (page) => {
    await signInThroughConsole(page, server.url, 'owner@demo.test');
    await page.goto(`${server.url}${SI}`);
    const notice = page.getByRole('region', { name: 'A key was found in public and revoked' });
    await notice.waitFor();
    t.regex(await notice.innerText(), /Leaked Landing Page was found at https:\/\/github\.com\/someone\/site\/blob\/main\/\.env \(content\)/);
    t.truthy(await page.getByRole('row', { name: /Leaked Landing Page/ }).getByText('Revoked (leaked)').isVisible());
    await accessible(t, page, 'leaked-key notice');
  });
  await withPage(t, async (page) => {
    await signInThroughConsole(page, server.url, 'owner@other.test');
    await page.goto(`${server.url}${SI}`);
    await page.getByRole('heading', { name: 'API Keys' }).waitFor();
    await page.locator('.card table, .card .empty').first().waitFor();
    t.is(await page.getByRole('region', { name: /found in public/ }).count(), 0);
    t.false((await page.content()).includes('Leaked Landing Page'));
  });
});

test.serial('the help page, sentence by sentence: Octiv Access, the toggle, the delete icon under Actions (wide and narrow)', async (t) => {
  for (const width of [1280, 390]) {
    await withPage(
      t,
      async (page) => {
        await signInThroughConsole(page, server.url, 'owner@demo.test');
        // "Staff > View/Edit > Access tab ... Under Octiv Access, check System Integrations."
        await page.goto(`${server.url}/console/staff/${DEMO.demoFitness.staff[2].id}`);
        await page.getByRole('tab', { name: 'Access', exact: true }).click();
        const group = page.getByRole('group', { name: 'Octiv Access', exact: true });
        t.truthy(await group.getByRole('checkbox', { name: 'System Integrations', exact: true }).isVisible());
        // "Settings > System Integrations", "Create API Key", "Key Name", "Generate Key".
        await page.getByRole('link', { name: 'Settings', exact: true }).click();
        await page.getByRole('main').getByRole('link', { name: 'System Integrations', exact: true }).click();
        await page.getByRole('button', { name: 'Create API Key', exact: true }).click();
        await page.getByRole('textbox', { name: 'Key Name', exact: true }).fill(`Help Page ${width}`);
        await page.getByRole('button', { name: 'Generate Key', exact: true }).click();
        // "API Key Created ... Copy ... toggle I have copied my API key and stored it securely ... Done".
        const created = page.getByRole('dialog', { name: 'API Key Created', exact: true });
        await created.getByRole('button', { name: 'Copy', exact: true }).waitFor();
        const toggle = created.getByRole('switch', { name: SWITCH, exact: true });
        await toggle.focus();
        await page.keyboard.press('Space');
        t.is(await toggle.getAttribute('aria-checked'), 'true', 'Space turns the toggle on');
        await created.getByRole('button', { name: 'Done', exact: true }).click();
        // "Click the delete icon under Actions".
        const header = page.getByRole('columnheader', { name: 'Actions', exact: true });
        t.is(await header.count(), 1);
        const headers = await page.getByRole('columnheader').allInnerTexts();
        const row = page.getByRole('row', { name: new RegExp(`Help Page ${width}`) });
        const cells = row.getByRole('cell');
        const actionsCell = cells.nth(headers.findIndex((text) => text.trim() === 'Actions'));
        const deleteButton = actionsCell.getByRole('button', { name: `Delete Help Page ${width}`, exact: true });
        t.truthy(await deleteButton.isVisible());
        if (width === 390) t.is(await actionsCell.evaluate((cell) => getComputedStyle(cell, '::before').content), '"Actions"', 'the stacked layout labels it Actions too');
        await deleteButton.click();
        await page.getByRole('dialog', { name: 'Delete Key', exact: true }).getByRole('button', { name: 'Delete Key', exact: true }).click();
        await row.waitFor({ state: 'detached' });
      },
      { width, height: 860 },
    );
  }
});

test.serial('layout holds at 320, 390 and 1280 px with 100-character names: no horizontal scroll, every action on screen', async (t) => {
  const owner = await (await import('./helpers/oauth.js')).signIn(server, 'owner@demo.test');
  const longName = `${'Landing Page Connector For The Downtown Location '.repeat(3)}`.slice(0, 100);
  const other = `${'W'.repeat(100)}`;
  const keys = [await createKey(server, owner, longName), await createKey(server, owner, other)];
  await api(server, `/api/v1/api-keys/${keys[0]!.id}/rotate`, { token: owner, body: { graceSeconds: 3600 } });
  for (const width of [320, 390, 1280]) {
    await withPage(
      t,
      async (page) => {
        const fits = async (state: string) => {
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
          t.true(overflow <= 0, `${width}px, ${state}: no horizontal scrolling (${overflow}px)`);
        };
        await signInThroughConsole(page, server.url, 'owner@demo.test');
        await page.goto(`${server.url}${SI}`);
        await page.getByRole('row', { name: new RegExp(other) }).waitFor();
        await fits('key list');
        for (const name of [longName, other]) {
          for (const action of [`Delete ${name}`, `Rotate ${name}`]) {
            const box = await page.getByRole('button', { name: action, exact: true }).boundingBox();
            t.truthy(box && box.x >= 0 && box.x + box.width <= width, `${width}px: "${action.slice(0, 20)}…" on screen`);
          }
        }
        const endGrace = await page.getByRole('button', { name: `End grace period now for ${longName}` }).boundingBox();
        t.truthy(endGrace && endGrace.x + endGrace.width <= width);
        if (width === 390) await screenshot(page, '13-mobile-list');
        await accessible(t, page, `key list at ${width}px`);

        await page.getByRole('button', { name: `Delete ${longName}` }).click();
        const dialog = page.getByRole('dialog', { name: 'Delete Key' });
        await dialog.waitFor();
        await fits('delete dialog');
        const box = await dialog.boundingBox();
        t.truthy(box && box.x >= 0 && box.x + box.width <= width, 'the dialog fits');
        await dialog.getByRole('button', { name: 'Cancel' }).click();

        await generateKey(page, `${width}px ${'N'.repeat(90)}`);
        const created = page.getByRole('dialog', { name: 'API Key Created' });
        await created.waitFor();
        await fits('key created dialog');
        const done = await created.getByRole('button', { name: 'Done' }).boundingBox();
        t.truthy(done && done.x + done.width <= width, 'Done is on screen');
        if (width === 390) await screenshot(page, '12-mobile-key-created');
        await acknowledge(page);

        await page.goto(`${server.url}/console/staff`);
        await page.getByRole('cell', { name: 'Adam Admin', exact: true }).waitFor();
        await fits('staff');
        if (width === 390) await screenshot(page, '14-mobile-staff');
      },
      { width, height: 800 },
    );
  }
});

test.serial('a trainer sees no System Integrations; unknown pages say so', async (t) => {
  await withPage(t, async (page) => {
    await signInThroughConsole(page, server.url, 'trainer@demo.test');
    await page.getByRole('heading', { name: 'Welcome, Theo Trainer' }).waitFor();
    t.is(await page.getByRole('link', { name: 'System Integrations' }).count(), 0);
    t.is(await page.getByRole('link', { name: 'Staff' }).count(), 0);
    await page.goto(`${server.url}${SI}`);
    await page.getByText('You do not have the System Integrations permission.').waitFor();
    t.is(await page.getByRole('button', { name: 'Create API Key' }).count(), 0);
    await screenshot(page, '10-trainer');
    await accessible(t, page, 'no permission');
    await page.goto(`${server.url}${SI}/webhooks`);
    await page.getByText('You do not have the System Integrations permission.').waitFor();
    t.is(await page.getByRole('button', { name: 'Add Endpoint' }).count(), 0);
    await page.goto(`${server.url}/console/no/such/page`);
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    t.is(await titleOnceSet(page, 'Page not found · Octiv'), 'Page not found · Octiv');
    await accessible(t, page, 'not found');
  });
});

test.serial('a callback from another issuer, or naming none (RFC 9207), or with a state this tab did not send, is refused: no code exchanged, no token kept', async (t) => {
  await withPage(t, async (page) => {
    const tokenRequests: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/oauth/token') tokenRequests.push(request.method());
    });
    /** Starts a sign-in as a signed-out visitor does; the state the console now waits for. */
    const pendingState = async (): Promise<string> => {
      await page.goto(`${server.url}/console/`);
      await page.waitForURL(/\/oauth\/interaction\//);
      return page.evaluate(() => (JSON.parse(sessionStorage.getItem('octiv.pending-login') ?? '{}') as { state: string }).state);
    };
    const cases: [string, (state: string) => Record<string, string>, RegExp][] = [
      ['another issuer', (state) => ({ state, iss: 'http://evil.test' }), /did not come from Octiv sign-in/],
      ['no issuer', (state) => ({ state }), /did not come from Octiv sign-in/],
      ['another state', () => ({ state: 'not-this-tabs', iss: `${server.url}/oauth` }), /not valid any more/],
    ];
    for (const [name, parameters, words] of cases) {
      const state = await pendingState();
      t.regex(state, /^[\w-]{20,}$/, name);
      await page.goto(`${server.url}/console/callback?${new URLSearchParams({ code: 'x', ...parameters(state) })}`);
      await page.getByRole('heading', { name: 'Sign-in problem' }).waitFor();
      t.regex(await page.getByRole('alert').innerText(), words, name);
      t.is(await page.evaluate(() => sessionStorage.getItem('octiv.session')), null, `${name}: no token kept`);
      t.notRegex(page.url(), /code=|state=/, `${name}: no code left in the URL`);
    }
    t.deepEqual(tokenRequests, [], 'no code was exchanged');
    await accessible(t, page, 'sign-in refused');

    // The same tab still signs in the ordinary way, and that callback (with our issuer) is taken.
    await page.getByRole('button', { name: 'Sign in again' }).click();
    await page.getByLabel('Email').fill('owner@demo.test');
    await page.getByLabel('Password').fill('demo-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Welcome, Olivia Owner' }).waitFor();
    t.deepEqual(tokenRequests, ['POST']);
    t.regex(await page.evaluate(() => sessionStorage.getItem('octiv.session') ?? ''), /accessToken/);
  });
});

test.serial('API errors in plain words: duplicate name, lost permission, expired sign-in', async (t) => {
  await withPage(t, async (page) => {
    await signInThroughConsole(page, server.url, 'admin@demo.test');
    await page.goto(`${server.url}${SI}`);
    await generateKey(page, 'CRM Sync');
    await acknowledge(page);
    // The same name again.
    await generateKey(page, 'crm sync');
    await page.getByText('An API key named "crm sync" already exists in this facility.', { exact: false }).waitFor();
    await screenshot(page, '11-duplicate-name');
    await accessible(t, page, 'create dialog with an error');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });

    // The Owner takes the permission away: the next action says so.
    await server.db('staff').where({ email: 'admin@demo.test' }).update({ system_integrations: false });
    await generateKey(page, 'Another');
    await page.getByText(/needs the System Integrations permission/).waitFor();

    // The sign-in expires (its token is gone): a plain message and a way back.
    await server.db('oidc_payloads').where({ model: 'AccessToken' }).whereRaw(`payload->>'accountId' = ?`, [
      (await server.db('staff').where({ email: 'admin@demo.test' }).first()).id,
    ]).delete();
    await page.goto(`${server.url}/console/staff`);
    await page.getByText('Your sign-in has expired. Please sign in again.').waitFor();
    t.truthy(await page.getByRole('button', { name: 'Sign in again' }).isVisible());
  });
});

test.serial('keyboard only: create and delete a key; focus moves into dialogs and back', async (t) => {
  await withPage(t, async (page) => {
    await signInThroughConsole(page, server.url, 'owner@demo.test');
    await page.goto(`${server.url}${SI}`);
    const createButton = page.getByRole('button', { name: 'Create API Key' });
    await page.locator('.card table, .card .empty').first().waitFor(); // the list has loaded
    await createButton.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'key-name');
    await page.keyboard.type('Keyboard Key');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    t.true(await hasFocus(createButton), 'Escape closes and focus returns');

    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'key-name');
    await page.keyboard.type('Keyboard Key');
    await page.keyboard.press('Tab'); // -> leads:create (ticked to begin with)
    t.true(await page.getByRole('checkbox', { name: 'leads:create' }).isChecked(), 'leads:create is ticked to begin with');
    await page.keyboard.press('Tab'); // -> leads:read (a choice)
    t.false(await page.getByRole('checkbox', { name: 'leads:read' }).isChecked());
    await page.keyboard.press('Tab'); // -> the location choices (one stop: Every location, ticked to begin with)
    t.true(await page.getByRole('radio', { name: 'Every location' }).evaluate((radio) => radio === document.activeElement && (radio as HTMLInputElement).checked), 'Every location has focus, and is ticked');
    await page.keyboard.press('Tab'); // -> the expiry choices (one stop; arrows move within)
    await page.keyboard.press('Tab'); // -> Cancel
    await page.keyboard.press('Tab'); // -> Generate Key
    await page.keyboard.press('Enter');
    const created = page.getByRole('dialog', { name: 'API Key Created' });
    await created.waitFor();
    // The dialog moves focus into itself once it has rendered (an effect): wait for that before pressing Tab.
    const focusInside = () => created.evaluate((dialog) => dialog.contains(document.activeElement));
    t.true(await eventually(focusInside, { timeoutMs: 5_000, what: 'the focus to move into the dialog' }).then(() => true, () => false), 'focus moves into the dialog');
    // Tab stays inside the dialog.
    for (let index = 0; index < 10; index += 1) {
      await page.keyboard.press('Tab');
      t.true(await focusInside(), `Tab ${index + 1} stays inside the dialog`);
    }
    await created.getByRole('switch', { name: SWITCH }).focus();
    await page.keyboard.press('Space');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await created.waitFor({ state: 'detached' });
    t.true(await hasFocus(createButton), 'focus returns to Create API Key');

    const deleteButton = page.getByRole('button', { name: 'Delete Keyboard Key' });
    await deleteButton.focus();
    await page.keyboard.press('Enter');
    const confirm = page.getByRole('dialog', { name: 'Delete Key' });
    await confirm.waitFor();
    t.true(await hasFocus(confirm.getByRole('button', { name: 'Cancel' })), 'the safe choice has focus');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await confirm.waitFor({ state: 'detached' });
    await page.getByRole('row', { name: /Keyboard Key/ }).waitFor({ state: 'detached' });
    t.is(await server.db('api_keys').where({ name: 'Keyboard Key' }).whereNull('deleted_at').first(), undefined);
  });
});

const [DOWNTOWN] = DEMO.demoFitness.locations;

/** Signs in as the Owner and opens the create dialog, the key's name filled in. */
async function ownersCreateDialog(page: Page, name: string): Promise<Locator> {
  await signInThroughConsole(page, server.url, 'owner@demo.test');
  await page.goto(`${server.url}${SI}`);
  await page.getByRole('button', { name: 'Create API Key' }).click();
  await page.getByLabel('Key Name').fill(name);
  return page.getByRole('dialog', { name: 'Create API Key' });
}

test.serial('a key limited to one location with leads:read: chosen in the create dialog, listed with its location and scopes', async (t) => {
  const scopes = (await api(server, '/api/v1/scopes', { token: await (await import('./helpers/oauth.js')).signIn(server, 'owner@demo.test') })).body.items as { name: string; description: string }[];
  await withPage(t, async (page) => {
    const create = await ownersCreateDialog(page, 'Downtown CRM');
    // Each scope with what it lets a system do, in the API's words.
    for (const scope of scopes) t.truthy(await create.getByText(scope.description, { exact: true }).isVisible(), scope.name);
    await create.getByRole('checkbox', { name: 'leads:create' }).uncheck();
    await create.getByRole('checkbox', { name: 'leads:read' }).check();
    t.true(await create.getByRole('radio', { name: 'Every location' }).isChecked(), 'every location to begin with');
    await create.getByRole('radio', { name: 'Only these locations' }).check();
    await create.getByRole('group', { name: 'Only these locations' }).getByRole('checkbox', { name: DOWNTOWN.name }).check();
    await screenshot(page, '19-create-limited-key');
    await accessible(t, page, 'create dialog, only these locations');
    await create.getByRole('button', { name: 'Generate Key' }).click();
    await acknowledge(page);

    const row = page.getByRole('row', { name: /Downtown CRM/ });
    t.truthy(await row.getByRole('cell', { name: 'leads:read', exact: true }).isVisible(), 'its scope');
    t.truthy(await row.getByRole('cell', { name: DOWNTOWN.name, exact: true }).isVisible(), 'its location, by name');
    const stored = await server.db('api_keys').where({ name: 'Downtown CRM' }).first();
    t.deepEqual([stored.scopes, stored.location_ids], [['leads:read'], [DOWNTOWN.id]]);
    await generateKey(page, 'Everywhere Landing Page');
    await acknowledge(page);
    t.truthy(await page.getByRole('row', { name: /Everywhere Landing Page/ }).getByRole('cell', { name: 'All locations', exact: true }).isVisible());
    await accessible(t, page, 'key list with locations');
    // The key's own page says it too.
    await row.getByRole('link', { name: 'Downtown CRM', exact: true }).click();
    await page.getByRole('heading', { name: 'Downtown CRM', level: 1 }).waitFor();
    t.regex(await page.locator('dl.facts').innerText(), new RegExp(`Scopes\\s+leads:read\\s+Locations\\s+${DOWNTOWN.name}\\s`));
  });
});

test.serial('locations refused: none ticked is said at once; one gone while the dialog was open, the API\'s 400 on locationIds.0, under Locations naming it', async (t) => {
  const popUp = { id: randomUUID(), facility_id: DEMO.demoFitness.id, name: 'Pop-up Gym' };
  await server.db('locations').insert(popUp);
  await withPage(t, async (page) => {
    const create = await ownersCreateDialog(page, 'Pop-up Landing Page');
    await create.getByRole('radio', { name: 'Only these locations' }).check();
    // None ticked: said before anything is sent.
    await create.getByRole('button', { name: 'Generate Key' }).click();
    await create.getByText('Choose at least one location, or Every location.').waitFor();
    await create.getByRole('checkbox', { name: 'Pop-up Gym' }).check();
    await server.db('locations').where({ id: popUp.id }).delete();
    const answer = page.waitForResponse((response) => response.url().endsWith('/api/v1/api-keys') && response.request().method() === 'POST');
    await create.getByRole('button', { name: 'Generate Key' }).click();
    const problem = await (await answer).json();
    t.deepEqual(problem.errors.map((error: { path: string }) => error.path), ['locationIds.0']);
    const said = create.locator('#locations-error');
    await said.waitFor();
    t.is(await said.innerText(), `“Pop-up Gym” ${problem.errors[0].message}`);
    t.is(await create.getByRole('group', { name: 'Locations', exact: true }).getAttribute('aria-describedby'), 'locations-error');
    t.is(await server.db('api_keys').where({ name: 'Pop-up Landing Page' }).first(), undefined);
    await accessible(t, page, 'create dialog, a location refused');
  });
});

const WEBHOOKS = `${SI}/webhooks`;

/** Whether `locator` gets the keyboard focus within 5 s (a dialog moves it in an effect, just after it shows; a closing one gives it back). */
async function hasFocus(locator: Locator): Promise<boolean> {
  const what = 'the focus to move';
  return eventually(() => locator.evaluate((element) => element === document.activeElement), { timeoutMs: 5_000, what }).then(
    () => true,
    () => false,
  );
}
const SECRET_SWITCH = 'I have copied the signing secret and stored it securely';

/** The once-shown signing secret: Done waits for the switch, Escape does not skip it, Copy copies it. Returns the secret. */
async function takeSecret(t: ExecutionContext, page: Page, title: string): Promise<string> {
  const dialog = page.getByRole('dialog', { name: title });
  await dialog.waitFor();
  const secret = await dialog.getByRole('textbox', { name: 'Signing secret' }).inputValue();
  t.regex(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  t.true(await dialog.getByRole('button', { name: 'Done' }).isDisabled());
  await page.keyboard.press('Escape');
  t.true(await dialog.isVisible(), 'Escape does not skip the confirmation');
  await dialog.getByRole('button', { name: 'Copy', exact: true }).click();
  await dialog.getByText('Copied to the clipboard.').waitFor();
  t.is(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await accessible(t, page, title);
  await dialog.getByRole('switch', { name: SECRET_SWITCH }).click();
  await dialog.getByRole('button', { name: 'Done' }).click();
  await dialog.waitFor({ state: 'detached' });
  t.false((await page.content()).includes(secret.slice(6, 30)), 'the secret is gone from the page');
  return secret;
}

/** The row of the delivery of `eventId` in an endpoint's log, once it says `status`. */
async function deliveryRow(card: Locator, eventId: string, status: string): Promise<Locator> {
  const row = card.getByRole('row', { name: new RegExp(eventId) });
  await row.getByText(status, { exact: true }).waitFor({ timeout: 15_000 });
  return row;
}

/** Adds an endpoint from the Webhooks page: URL, description, only lead.created. Returns its signing secret. */
async function addEndpoint(t: ExecutionContext, page: Page, url: string, description: string): Promise<string> {
  await page.getByRole('button', { name: 'Add Endpoint' }).click();
  const add = page.getByRole('dialog', { name: 'Add Endpoint' });
  await add.waitFor();
  t.true(await hasFocus(page.getByLabel('Endpoint URL')), 'focus moves into the dialog');
  // A URL the API refuses: its words under the field, and focus there.
  await page.getByLabel('Endpoint URL').fill('ftp://crm.example.com/hooks');
  await page.getByLabel('Description (optional)').fill(description);
  await add.getByRole('button', { name: 'Add Endpoint' }).click();
  await add.locator('#endpoint-url-error').getByText('must be an http or https URL', { exact: true }).waitFor();
  t.is(await page.getByLabel('Endpoint URL').getAttribute('aria-invalid'), 'true');
  t.true(await hasFocus(page.getByLabel('Endpoint URL')), 'focus goes to the refused field');
  await accessible(t, page, 'add endpoint dialog, URL refused');
  await page.getByLabel('Endpoint URL').fill(url);
  t.true(await add.getByRole('radio', { name: 'Every event' }).isChecked());
  await add.getByRole('radio', { name: 'Only these events' }).check();
  await add.getByRole('checkbox', { name: 'lead.created' }).check();
  await screenshot(page, '20-add-endpoint');
  await accessible(t, page, 'add endpoint dialog');
  await add.getByRole('button', { name: 'Add Endpoint' }).click();
  return takeSecret(t, page, 'Endpoint Added');
}

test.serial('webhooks: add an endpoint, its secret once, a test event delivered and retried, edit, rotate, turn off, delete', async (t) => {
  const receiver = await startReceiver();
  try {
    await withPage(t, async (page) => {
      await signInThroughConsole(page, server.url, 'owner@demo.test');
      await page.goto(`${server.url}${SI}`);
      await page.getByRole('link', { name: 'Manage webhooks' }).click();
      await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
      t.is(await titleOnceSet(page, 'Webhooks · Octiv'), 'Webhooks · Octiv');
      await page.getByText('No endpoints yet.').waitFor();
      await accessible(t, page, 'webhooks, no endpoints');

      const secret = await addEndpoint(t, page, receiver.url, 'CRM sync');
      const card = page.getByRole('article', { name: 'CRM sync' });
      t.regex(await card.innerText(), new RegExp(`${receiver.url}[\\s\\S]*lead\\.created[\\s\\S]*ends in ${secret.slice(-4).replace(/[+/]/g, '\\$&')}[\\s\\S]*by Olivia Owner`));
      const { id } = await server.db('webhook_endpoints').where({ url: receiver.url }).first();

      // Send test event: the log opens, and shows it delivered (signed with the secret just shown).
      await card.getByRole('button', { name: 'Send test event to CRM sync' }).click();
      await page.getByRole('status').getByText('A test event is on its way to CRM sync.', { exact: false }).waitFor();
      const sent = await eventually(() => receiver.received[0], { what: 'the test event at the receiver' });
      const eventId = String(sent.headers['webhook-id']);
      t.like(new Webhook(secret).verify(sent.body, sent.headers as Record<string, string>), { type: 'webhook.test' });
      const row = await deliveryRow(card, eventId, 'Delivered');
      t.regex(await row.innerText(), /webhook\.test[\s\S]*Delivered[\s\S]*\b1\b[\s\S]*HTTP 200/);
      await screenshot(page, '21-webhook-delivered');
      await accessible(t, page, 'deliveries log');

      // Retry: the same event (the same webhook-id) is delivered again.
      await row.getByRole('button', { name: `Retry webhook.test ${eventId}` }).click();
      await row.getByRole('cell', { name: '2', exact: true }).waitFor({ timeout: 15_000 });
      await eventually(() => receiver.of(eventId).length === 2, { what: 'the retried delivery' });
      await deliveryRow(card, eventId, 'Delivered');
      await card.getByLabel('Show').selectOption('failed');
      await card.getByText('No deliveries with this status.').waitFor();
      await card.getByLabel('Show').selectOption('');
      await deliveryRow(card, eventId, 'Delivered');

      await editRotateTurnOffDelete(t, page, { id, secret, receiver });

      // Activity says who did what to the endpoint, in plain words.
      await page.goto(`${server.url}${SI}/activity`);
      const events = page.getByRole('list', { name: 'Events, newest first' });
      await events.getByText('Olivia Owner added the webhook endpoint “CRM sync”').waitFor();
      await events.getByText('Olivia Owner turned off the webhook endpoint “CRM sync EU”').waitFor();
      await page.getByLabel('What').selectOption('webhook_endpoint.secret_rotated');
      // The filtered list replaces the whole one: wait for it, then read its one line.
      await eventually(async () => (await events.getByRole('listitem').count()) === 1, { what: 'the list filtered to the one rotation' });
      t.regex(await events.getByRole('listitem').innerText(), /^Olivia Owner rotated the signing secret of the webhook endpoint “CRM sync EU”; the old one signs too for 24 hours\n/);
    });
  } finally {
    await receiver.close();
  }
});

/** The rest of the endpoint's life: edit, rotate (both secrets sign), turned off (by staff, then by Octiv, said as a notice), deleted. */
async function editRotateTurnOffDelete(t: ExecutionContext, page: Page, endpoint: { id: string; secret: string; receiver: Awaited<ReturnType<typeof startReceiver>> }) {
  await page.getByRole('button', { name: 'Edit CRM sync' }).click();
  const edit = page.getByRole('dialog', { name: 'Edit Endpoint' });
  // The dialog moves focus to its first field once it has rendered: typing before that could land there instead.
  t.true(await hasFocus(edit.getByLabel('Endpoint URL')), 'focus moves into the dialog');
  t.is(await edit.getByLabel('Endpoint URL').inputValue(), endpoint.receiver.url);
  t.true(await edit.getByRole('checkbox', { name: 'lead.created' }).isChecked());
  await edit.getByLabel('Description (optional)').fill('CRM sync EU');
  t.is(await edit.getByLabel('Endpoint URL').inputValue(), endpoint.receiver.url, 'the URL is untouched');
  await edit.getByRole('radio', { name: 'Every event' }).check();
  await edit.getByRole('button', { name: 'Save Changes' }).click();
  const card = page.getByRole('article', { name: 'CRM sync EU' });
  await card.getByText('Every event').waitFor();
  t.like(await server.db('webhook_endpoints').where({ id: endpoint.id }).first(), { description: 'CRM sync EU', events: ['*'] });

  await card.getByRole('button', { name: 'Rotate secret of CRM sync EU' }).click();
  const rotate = page.getByRole('dialog', { name: 'Rotate Signing Secret' });
  t.regex(await rotate.innerText(), /For 24 hours every delivery is signed with both the old and the new secret/);
  t.true(await hasFocus(rotate.getByRole('button', { name: 'Cancel' })), 'the safe choice has focus');
  await accessible(t, page, 'rotate secret dialog');
  await rotate.getByRole('button', { name: 'Rotate Secret' }).click();
  const rotated = await takeSecret(t, page, 'Signing Secret Rotated');
  t.not(rotated, endpoint.secret);
  await card.getByText(`ends in ${rotated.slice(-4)}`).waitFor();
  const before = endpoint.receiver.received.length;
  await card.getByRole('button', { name: 'Send test event to CRM sync EU' }).click();
  const signed = await eventually(() => endpoint.receiver.received[before], { what: 'a test event after the rotation' });
  for (const secret of [endpoint.secret, rotated]) t.truthy(new Webhook(secret).verify(signed.body, signed.headers as Record<string, string>), 'signed by both secrets');

  await card.getByRole('button', { name: 'Turn off CRM sync EU' }).click();
  await card.getByText('Turned off', { exact: true }).waitFor();
  t.is(await card.getByRole('button', { name: /Send test event/ }).count(), 0, 'nothing to test while off');
  t.false((await server.db('webhook_endpoints').where({ id: endpoint.id }).first()).enabled);
  // Octiv turns an endpoint off after 5 days of failures: the page and the System Integrations card say so.
  const reason = 'Every delivery failed for 5 days (the last: status 500). Fix the receiver, then turn the endpoint on again.';
  await server.db('webhook_endpoints').where({ id: endpoint.id }).update({ disabled_reason: reason });
  await page.goto(`${server.url}${SI}`);
  await page.getByText(`Octiv turned off the webhook endpoint CRM sync EU. ${reason}`).waitFor();
  await page.getByRole('link', { name: 'Manage webhooks' }).click();
  await page.getByRole('article', { name: 'CRM sync EU' }).getByText(`Octiv turned this endpoint off. ${reason}`).waitFor();
  await screenshot(page, '22-webhook-turned-off');
  await accessible(t, page, 'an endpoint turned off by Octiv');

  await page.getByRole('button', { name: 'Delete CRM sync EU' }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete Endpoint' });
  t.regex(await confirm.innerText(), /deliveries log is deleted with it/);
  await accessible(t, page, 'delete endpoint dialog');
  await confirm.getByRole('button', { name: 'Delete Endpoint' }).click();
  await page.getByRole('article', { name: 'CRM sync EU' }).waitFor({ state: 'detached' });
  await page.getByRole('status').getByText('CRM sync EU was deleted.', { exact: false }).waitFor();
  t.true(await hasFocus(page.getByRole('button', { name: 'Add Endpoint' })), 'focus goes to Add Endpoint');
  t.is(await server.db('webhook_endpoints').where({ id: endpoint.id }).first(), undefined);
}

test.serial('the Webhooks page at 390 and 1280 px: axe, no horizontal scroll, older deliveries on demand; keyboard: focus into dialogs and back', async (t) => {
  const owner = await (await import('./helpers/oauth.js')).signIn(server, 'owner@demo.test');
  const receiver = await startReceiver();
  const name = `Zapier automation for the downtown front desk ${'W'.repeat(40)}`;
  const made = await api(server, '/api/v1/webhook-endpoints', { token: owner, body: { url: receiver.url, events: ['*'], description: name } });
  t.is(made.status, 201);
  // 21 test events: a page of 20, and one older.
  for (let count = 0; count < 21; count += 1) t.is((await api(server, `/api/v1/webhook-endpoints/${made.body.id}/test`, { token: owner, method: 'POST' })).status, 202);
  await eventually(() => receiver.received.length >= 21, { what: '21 deliveries', timeoutMs: 30_000 });
  try {
    for (const width of [390, 1280]) {
      await withPage(
        t,
        async (page) => {
          await signInThroughConsole(page, server.url, 'owner@demo.test');
          await page.goto(`${server.url}${WEBHOOKS}`);
          const card = page.getByRole('article', { name });
          await card.waitFor();
          if (width === 390) await screenshot(page, '23-mobile-webhooks');
          await card.getByRole('button', { name: `Deliveries of ${name}` }).click();
          const log = card.getByRole('table', { name: /^Deliveries to/ });
          await log.getByText('Delivered', { exact: true }).first().waitFor();
          t.is(await log.getByRole('row').count(), 21, 'a heading row and a page of 20');
          await card.getByRole('button', { name: 'Show older deliveries' }).click();
          await log.getByRole('row').nth(21).waitFor();
          t.is(await card.getByRole('button', { name: 'Show older deliveries' }).count(), 0, 'no more pages');
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
          t.true(overflow <= 0, `${width}px: no horizontal scrolling (${overflow}px)`);
          await accessible(t, page, `webhooks page at ${width}px`);
          if (width === 1280) await keyboardThroughWebhooks(t, page, name);
        },
        { width, height: 860 },
      );
    }
  } finally {
    await receiver.close();
  }
});

/** Keyboard only: Add Endpoint and Escape, Rotate and Escape, Delete and Tab, Enter: focus moves in, and back where it was (or to Add Endpoint). */
async function keyboardThroughWebhooks(t: ExecutionContext, page: Page, name: string) {
  const add = page.getByRole('button', { name: 'Add Endpoint' });
  await add.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.id === 'endpoint-url');
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  t.true(await hasFocus(add), 'Escape closes and focus returns');

  const rotate = page.getByRole('button', { name: `Rotate secret of ${name}` });
  await rotate.focus();
  await page.keyboard.press('Enter');
  t.true(await hasFocus(page.getByRole('dialog', { name: 'Rotate Signing Secret' }).getByRole('button', { name: 'Cancel' })));
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  t.true(await hasFocus(rotate));

  await page.getByRole('button', { name: `Delete ${name}` }).focus();
  await page.keyboard.press('Enter');
  const confirm = page.getByRole('dialog', { name: 'Delete Endpoint' });
  t.true(await hasFocus(confirm.getByRole('button', { name: 'Cancel' })), 'the safe choice has focus');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await confirm.waitFor({ state: 'detached' });
  await page.getByRole('article', { name }).waitFor({ state: 'detached' });
  t.true(await hasFocus(add), 'after the delete, focus goes to Add Endpoint');
}

test.serial('the API reference at /docs is the OpenAPI document, readable, under the console\'s CSP', async (t) => {
  await withPage(t, async (page) => {
    const response = await page.goto(`${server.url}/docs`);
    t.regex(response?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    await page.getByRole('heading', { name: 'Octiv System Integrations API' }).waitFor();
    const document = (await api(server, '/api/v1/openapi.json')).body as { paths: Record<string, Record<string, { operationId: string }>> };
    for (const operations of Object.values(document.paths)) {
      for (const operation of Object.values(operations)) t.is(await page.locator(`#${operation.operationId}`).count(), 1, operation.operationId);
    }
    t.regex(await page.locator('#createLead').innerText(), /firstName/);
    // The server's address is the document's `publicUrl` variable, filled in.
    t.is(await page.locator('#createLead h2').innerText(), `POST ${server.url}/api/v1/leads`);
    t.regex(await page.locator('#createLead').innerText(), /429: Past the API key's rate limit/);
    await accessible(t, page, 'API reference');
  });
});
