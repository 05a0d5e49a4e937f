import { access } from 'node:fs/promises';

import test from 'ava';
import type { Browser, Page } from 'playwright-core';

import { api } from './helpers/oauth.js';
import { CHROMIUM, launchChromium, screenshot, signInThroughConsole } from './helpers/browser-ui.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let browser: Browser;

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

/** Runs `work` on a fresh page (its own cookies and clipboard), closed afterwards whatever happens. */
async function withPage(work: (page: Page) => Promise<void>, viewport = { width: 1280, height: 860 }): Promise<void> {
  const context = await browser.newContext({ viewport });
  try {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    await work(await context.newPage());
  } finally {
    await context.close();
  }
}

/** Fills the create dialog with a key name and asks for the key. */
async function generateKey(page: Page, name: string): Promise<void> {
  await page.getByRole('button', { name: 'Create API Key' }).click();
  await page.getByLabel('Key Name').fill(name);
  await page.getByRole('button', { name: 'Generate Key' }).click();
}

test.serial('the help page, end to end: grant, create, copy, list, use, delete', async (t) => {
  await withPage(async (page) => {
    // A signed-out visitor is sent through /oauth login and back.
    await page.goto(`${server.url}/console/`);
    await page.waitForURL(/\/oauth\/interaction\//);
    await screenshot(page, '01-sign-in');
    await page.getByLabel('Email').fill('owner@demo.test');
    await page.getByLabel('Password').fill('demo-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Welcome, Olivia Owner' }).waitFor();
    t.notRegex(page.url(), /code=|state=/, 'no code or state left in the URL');
    const stored = await page.evaluate(() => JSON.stringify(sessionStorage));
    t.regex(stored, /accessToken/, 'the token is kept in session storage');

    // Staff > View/Edit > Access: the Owner grants System Integrations to the Admin.
    await page.getByRole('navigation').getByRole('link', { name: 'Staff' }).click();
    await page.getByRole('cell', { name: 'Adam Admin', exact: true }).waitFor();
    await screenshot(page, '02-staff');
    await page.getByRole('button', { name: 'Actions for Adam Admin' }).click();
    await page.getByRole('menuitem', { name: 'View/Edit' }).click();
    await page.getByRole('tab', { name: 'Access' }).click();
    const checkbox = page.getByRole('checkbox', { name: 'System Integrations' });
    t.false(await checkbox.isChecked());
    t.truthy(await page.getByText('Ability to use oAuth Personal Access Tokens for machine-to-machine communications').isVisible());
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

    // Settings > System Integrations: create a key.
    await page.getByRole('link', { name: 'System Integrations' }).click();
    await page.getByRole('heading', { name: 'API Keys' }).waitFor();
    await page.getByText('No API keys yet.').waitFor();
    await page.getByRole('button', { name: 'Create API Key' }).click();
    const create = page.getByRole('dialog', { name: 'Create API Key' });
    await create.waitFor();
    t.is(await page.getByLabel('Key Name').getAttribute('placeholder'), 'Landing Page Connector');
    t.true(await page.getByLabel('Key Name').evaluate((input) => input === document.activeElement), 'focus moves into the dialog');
    await page.getByLabel('Key Name').fill('Landing Page Connector');
    await page.getByRole('checkbox', { name: 'leads:create' }).check();
    await screenshot(page, '05-create-dialog');
    await create.getByRole('button', { name: 'Generate Key' }).click();

    // API Key Created: Done stays disabled until the toggle; Copy puts the key on the clipboard.
    const created = page.getByRole('dialog', { name: 'API Key Created' });
    await created.waitFor();
    const key = await page.getByRole('textbox', { name: 'API key' }).inputValue();
    t.regex(key, /^oct_pat_[0-9A-Za-z]{49}$/);
    const done = created.getByRole('button', { name: 'Done' });
    t.true(await done.isDisabled());
    await page.keyboard.press('Escape');
    t.true(await created.isVisible(), 'Escape does not skip the confirmation');
    await created.getByRole('button', { name: 'Copy' }).click();
    await created.getByText('Copied to the clipboard.').waitFor();
    t.is(await page.evaluate(() => navigator.clipboard.readText()), key);
    t.true(await done.isDisabled());
    await screenshot(page, '06-key-created');
    await page.getByRole('switch', { name: 'I have copied my API key and stored it securely' }).check();
    t.false(await done.isDisabled());
    await done.click();
    await created.waitFor({ state: 'detached' });

    // The list shows name, scope and date, and never the key.
    const row = page.getByRole('row', { name: /Landing Page Connector/ });
    await row.waitFor();
    t.truthy(await row.getByRole('cell', { name: 'leads:create', exact: true }).isVisible());
    const today = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric' }).format(new Date());
    t.truthy(await row.getByRole('cell', { name: today, exact: true }).isVisible());
    t.false((await page.content()).includes(key), 'the key is gone from the page');
    t.false((await page.content()).includes(key.slice(8, 30)));
    await screenshot(page, '07-key-list');

    // The key works against the Leads API.
    const lead = await api(server, '/api/v1/leads', {
      body: { firstName: 'Console', lastName: 'Walkthrough', email: 'console.walkthrough@example.com' },
      headers: { Authorization: `Bearer ${key}` },
    });
    t.is(lead.status, 201);

    // Delete Key: confirm, and the key is refused at once.
    await page.getByRole('button', { name: 'Delete Landing Page Connector' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete Key' });
    await confirm.waitFor();
    t.regex(await confirm.innerText(), /immediate and cannot be undone/);
    await screenshot(page, '08-delete-confirm');
    await confirm.getByRole('button', { name: 'Delete Key' }).click();
    await confirm.waitFor({ state: 'detached' });
    await page.getByText('No API keys yet.').waitFor();
    const refused = await api(server, '/api/v1/leads', {
      body: { firstName: 'Too', lastName: 'Late', email: 'too.late@example.com' },
      headers: { Authorization: `Bearer ${key}` },
    });
    t.is(refused.status, 401);
    await screenshot(page, '09-key-deleted');

    // Sign out ends the session: the next visit asks for a password again.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/oauth\/interaction\//);
    t.truthy(await page.getByLabel('Password').isVisible());
    t.is(await page.evaluate(() => sessionStorage.getItem('octiv.session')), null);
  });
});

test.serial('a trainer sees no System Integrations', async (t) => {
  await withPage(async (page) => {
    await signInThroughConsole(page, server.url, 'trainer@demo.test');
    await page.getByRole('heading', { name: 'Welcome, Theo Trainer' }).waitFor();
    t.is(await page.getByRole('link', { name: 'System Integrations' }).count(), 0);
    t.is(await page.getByRole('link', { name: 'Staff' }).count(), 0);
    await page.goto(`${server.url}/console/settings/system-integrations`);
    await page.getByText('You do not have the System Integrations permission.').waitFor();
    t.is(await page.getByRole('button', { name: 'Create API Key' }).count(), 0);
    await screenshot(page, '10-trainer');
  });
});

test.serial('API errors in plain words: duplicate name, lost permission, expired sign-in', async (t) => {
  await withPage(async (page) => {
    await signInThroughConsole(page, server.url, 'admin@demo.test');
    await page.goto(`${server.url}/console/settings/system-integrations`);
    await generateKey(page, 'CRM Sync');
    await page.getByRole('switch', { name: 'I have copied my API key and stored it securely' }).check();
    await page.getByRole('button', { name: 'Done' }).click();
    // The same name again.
    await generateKey(page, 'crm sync');
    await page.getByText('An API key named "crm sync" already exists in this facility.', { exact: false }).waitFor();
    await screenshot(page, '11-duplicate-name');
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
  await withPage(async (page) => {
    await signInThroughConsole(page, server.url, 'owner@demo.test');
    await page.goto(`${server.url}/console/settings/system-integrations`);
    const createButton = page.getByRole('button', { name: 'Create API Key' });
    await page.locator('.card table, .card .empty').first().waitFor(); // the list has loaded
    await createButton.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'key-name');
    await page.keyboard.type('Keyboard Key');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    t.true(await createButton.evaluate((element) => element === document.activeElement), 'Escape closes and focus returns');

    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'key-name');
    await page.keyboard.type('Keyboard Key');
    await page.keyboard.press('Tab'); // -> leads:create (already ticked: the only scope)
    t.true(await page.getByRole('checkbox', { name: 'leads:create' }).isChecked());
    await page.keyboard.press('Tab'); // -> Cancel
    await page.keyboard.press('Tab'); // -> Generate Key
    await page.keyboard.press('Enter');
    const created = page.getByRole('dialog', { name: 'API Key Created' });
    await created.waitFor();
    // Tab stays inside the dialog.
    for (let index = 0; index < 6; index += 1) {
      await page.keyboard.press('Tab');
      t.true(await created.evaluate((dialog) => dialog.contains(document.activeElement)));
    }
    await page.getByRole('switch', { name: 'I have copied my API key and stored it securely' }).focus();
    await page.keyboard.press('Space');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await created.waitFor({ state: 'detached' });
    t.true(await createButton.evaluate((element) => element === document.activeElement));

    const deleteButton = page.getByRole('button', { name: 'Delete Keyboard Key' });
    await deleteButton.focus();
    await page.keyboard.press('Enter');
    const confirm = page.getByRole('dialog', { name: 'Delete Key' });
    await confirm.waitFor();
    t.true(await confirm.getByRole('button', { name: 'Cancel' }).evaluate((element) => element === document.activeElement), 'the safe choice has focus');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await confirm.waitFor({ state: 'detached' });
    await page.getByRole('row', { name: /Keyboard Key/ }).waitFor({ state: 'detached' });
    t.is(await server.db('api_keys').where({ name: 'Keyboard Key' }).whereNull('deleted_at').first(), undefined);
  });
});

test.serial('looks right at 390 px wide', async (t) => {
  await withPage(async (page) => {
    await signInThroughConsole(page, server.url, 'owner@demo.test');
    await page.goto(`${server.url}/console/settings/system-integrations`);
    await generateKey(page, 'Phone Check');
    await page.getByRole('dialog', { name: 'API Key Created' }).waitFor();
    await screenshot(page, '12-mobile-key-created');
    await page.getByRole('switch', { name: 'I have copied my API key and stored it securely' }).check();
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('row', { name: /Phone Check/ }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    t.true(overflow <= 0, `no horizontal scrolling (${overflow}px)`);
    const deleteBox = await page.getByRole('button', { name: 'Delete Phone Check' }).boundingBox();
    t.truthy(deleteBox && deleteBox.x + deleteBox.width <= 390, 'the delete button is on screen');
    await screenshot(page, '13-mobile-list');
    await page.goto(`${server.url}/console/staff`);
    await page.getByRole('cell', { name: 'Adam Admin', exact: true }).waitFor();
    await screenshot(page, '14-mobile-staff');
  }, { width: 390, height: 844 });
});
