/**
 * examples/in-app/index.html in a real browser (Debian's Chromium, driven by playwright-core) against
 * the whole app, following examples/in-app/README.md: a template and a scenario over the admin API,
 * an access token, the page opened from another origin with the URL and token in its hash. A message
 * sent while the page is open appears live; "Mark read" and "Archive" are recorded in the log; a
 * refused token is shown as such.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { type BrowserAndSite, startBrowserAndSite } from '../../test-support/browser.fixture';
import { adminGet, adminSend, eventually, post, startTestApp, type TestApp } from '../../test-support/herald-test-app';

const PAGE = readFileSync(join(__dirname, '../../../../examples/in-app/index.html'));

let site: BrowserAndSite;
let siteUrl: string;
let herald: TestApp;
let page: Page;

beforeAll(async () => {
  // "Served by any static server": the page on an origin of its own, so every call to Herald is cross-origin.
  site = await startBrowserAndSite((request, response) => {
    if (request.url === '/index.html') response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    else response.writeHead(404).end();
  });
  siteUrl = `${site.origin}/index.html`;
});
afterAll(() => site?.close());

beforeEach(async () => {
  herald = await startTestApp();
  page = await site.browser.newPage();
});
afterEach(async () => {
  await page.close();
  herald.app.getHttpServer().closeAllConnections();
  await herald.destroy();
});

const eventsOf = async (userId: string, type: string) =>
  ((await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events as Array<{ type: string; data: Record<string, unknown> }>).filter((e) => e.type === type);

it('shows a message sent while it is open, and records Mark read and Archive', async () => {
  // Step 2 of the README: an in-app template and a scenario that sends it.
  const template = await adminSend('PUT', `${herald.url}/api/templates/welcome-inbox`, {
    format: 'liquid',
    channel: 'in_app',
    subject: 'Welcome, {{ user.first_name | default: "there" }}',
    body: 'Your {{ event.plan }} plan is ready.',
    url: 'https://app.example.com/plans/{{ event.plan }}',
  });
  expect(template.status).toBe(201);
  const scenario = await adminSend('POST', `${herald.url}/api/scenarios`, {
    id: 'welcome-inbox',
    name: 'Welcome (in-app)',
    trigger: { event: 'Plan Chosen' },
    entry: { reenter: 'always' },
    steps: [{ id: 'note', send: { channel: 'in_app', template: 'welcome-inbox' } }],
  });
  expect(scenario.status).toBe(201);
  // Step 3: the person's access token.
  const access = await adminSend('POST', `${herald.url}/api/users/ada/access-token`, { ttlSeconds: 3600 });
  expect(access.status).toBe(201);

  // Step 4: the page, with the URL and token in its hash; it connects by itself.
  await page.goto(`${siteUrl}#herald=${encodeURIComponent(herald.url)}&token=${encodeURIComponent(access.body.token)}`);
  await page.waitForSelector('#status[data-state="live"]');
  expect(await page.locator('#messages li').count()).toBe(0);

  // Step 5: a tracked event sends the message, and it appears without a reload.
  expect((await post(`${herald.url}/v1/track`, { userId: 'ada', event: 'Plan Chosen', properties: { plan: 'pro' } })).status).toBe(200);
  const item = page.locator('#messages li.unread');
  await item.waitFor();
  expect(await item.locator('h2').textContent()).toBe('Welcome, there');
  expect(await item.locator('p').textContent()).toBe('Your pro plan is ready.');
  expect(await item.locator('a').getAttribute('href')).toBe('https://app.example.com/plans/pro');
  expect(await page.locator('#badge').textContent()).toBe('1');
  const [delivered] = await eventsOf('ada', 'InAppMessageDelivered');
  expect(await item.getAttribute('data-message-id')).toBe(delivered.data.messageId);

  await item.getByRole('button', { name: 'Mark read' }).click();
  await page.waitForSelector('#badge[data-count="0"]');
  await eventually(async () => (await eventsOf('ada', 'InAppMessageRead')).length === 1 && (await eventsOf('ada', 'MessageOpened')).length === 1);
  expect((await eventsOf('ada', 'MessageOpened'))[0].data).toMatchObject({ messageId: delivered.data.messageId, channel: 'in_app', source: 'in_app_read' });

  await page.locator('#messages li').getByRole('button', { name: 'Archive' }).click();
  await page.waitForSelector('#empty:not([hidden])');
  await eventually(async () => (await eventsOf('ada', 'InAppMessageArchived')).length === 1);
  // Archived messages come back with "show archived", after a reload too (the inbox is Herald's, not the page's).
  await page.reload();
  await page.waitForSelector('#status[data-state="live"]');
  expect(await page.locator('#messages li').count()).toBe(0);
  await page.locator('#show-archived').check();
  expect(await page.locator('#messages li.archived.read h2').textContent()).toBe('Welcome, there');
});

it('says so when Herald refuses the token', async () => {
  await page.goto(`${siteUrl}#herald=${encodeURIComponent(herald.url)}&token=not-a-token`);
  await page.waitForSelector('#status[data-state="error"]');
  expect(await page.locator('#status').textContent()).toMatch(/^Could not open the inbox: 401 /);
});
