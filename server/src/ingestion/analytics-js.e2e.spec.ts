/**
 * Segment's browser library, unchanged (`@segment/analytics-next`'s own UMD build), in a real browser
 * (Debian's Chromium, driven by playwright-core) on a website origin of its own, sending to Herald
 * with only its API host changed: its short paths (`/v1/t`, `/v1/i`, `/v1/p`, `/v1/b`...), its
 * `Authorization` header and CORS preflight, one call at a time and batched.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import type { Page } from 'playwright-core';
import { type BrowserAndSite, startBrowserAndSite } from '../test-support/browser.fixture';
import { adminGet, eventually, startTestApp, TEST_WRITE_KEY, type TestApp } from '../test-support/herald-test-app';

/** The library's browser build and the chunks it may load from beside itself. */
const AJS_DIR = join(dirname(require.resolve('@segment/analytics-next/package.json')), 'dist', 'umd');
const PAGE = '<!doctype html><html><head><meta charset="utf-8"><script src="/ajs/index.js"></script></head><body>shop</body></html>';

let shop: BrowserAndSite;
let herald: TestApp;
let page: Page;

beforeAll(async () => {
  // The shop's own origin: every call to Herald is cross-origin.
  shop = await startBrowserAndSite((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/' || path === '/index.html') return void response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    const file = normalize(join(AJS_DIR, path.replace(/^\/ajs\//, '')));
    if (path.startsWith('/ajs/') && file.startsWith(AJS_DIR) && existsSync(file)) {
      return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
    }
    response.writeHead(404).end();
  });
});
afterAll(() => shop?.close());

beforeEach(async () => {
  herald = await startTestApp();
  page = await shop.browser.newPage();
  await page.goto(`${shop.origin}/`);
});
afterEach(async () => {
  await page.close();
  await herald.destroy();
});

type Logged = { type: string; data: Record<string, unknown> };
/** The person's events of the calls made (the identify also links the library's anonymous id: `IdentityLinked`). */
const CALL_EVENTS = ['Identified', 'Tracked', 'PageViewed', 'Grouped'];
const calls = async (userId: string): Promise<Logged[]> =>
  ((await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events ?? []).filter((event: Logged) => CALL_EVENTS.includes(event.type));
const allCalls = () =>
  eventually(async () => {
    const events = await calls('ada');
    return events.length >= CALL_EVENTS.length && events;
  });

/**
 * Loads analytics.js in the page as a website would, with the settings Segment's CDN would serve
 * given inline (there is no CDN here) and Herald as the API host, then makes the calls.
 */
async function inBrowser(apiHost: string, deliveryStrategy: unknown): Promise<string[]> {
  return page.evaluate(
    async ({ writeKey, apiHost, deliveryStrategy }) => {
      const requests: string[] = [];
      new PerformanceObserver((list) => list.getEntries().forEach((entry) => requests.push(new URL(entry.name).pathname))).observe({ type: 'resource', buffered: true });
      const { AnalyticsBrowser } = (globalThis as unknown as { AnalyticsNext: { AnalyticsBrowser: any } }).AnalyticsNext;
      const [analytics] = await AnalyticsBrowser.load(
        { writeKey, cdnSettings: { integrations: { 'Segment.io': { apiKey: writeKey, apiHost, protocol: 'http', deliveryStrategy } } } },
        { disableClientPersistence: true },
      );
      await analytics.identify('ada', { email: 'ada@example.com', plan: 'pro' });
      await analytics.track('Checkout Started', { cart_id: 'c1', total: 42 });
      await analytics.page('Shop', 'Pricing', { path: '/pricing' });
      await analytics.group('acme', { name: 'Acme' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      return requests.filter((path) => path.startsWith('/v1/'));
    },
    { writeKey: TEST_WRITE_KEY, apiHost, deliveryStrategy },
  );
}

it('one call at a time: identify, track, page and group reach the person, through the CORS preflight', async () => {
  const paths = await inBrowser(`${new URL(herald.url).host}/v1`, undefined);
  const ada = await allCalls();
  expect(ada.map((event) => event.type)).toEqual(CALL_EVENTS);
  expect(ada[0].data).toMatchObject({ userId: 'ada', traits: { email: 'ada@example.com', plan: 'pro' } });
  expect(ada[1].data).toMatchObject({ event: 'Checkout Started', properties: { cart_id: 'c1', total: 42 } });
  expect(ada[2].data).toMatchObject({ name: 'Pricing', category: 'Shop' });
  expect(paths).toEqual(expect.arrayContaining(['/v1/i', '/v1/t', '/v1/p', '/v1/g']));
  // The anonymous id the library made is kept, linked to the user by the identify.
  expect(typeof (ada[1] as { data: { anonymousId?: unknown } }).data.anonymousId).toBe('string');
});

it('batched: the calls go together to /v1/b', async () => {
  const paths = await inBrowser(`${new URL(herald.url).host}/v1`, { strategy: 'batching', config: { size: 4, timeout: 50 } });
  const ada = await allCalls();
  expect(ada.map((event) => event.type).sort()).toEqual([...CALL_EVENTS].sort());
  expect(paths).toContain('/v1/b');
  expect(paths.filter((path) => path === '/v1/t')).toEqual([]);
});
