/**
 * The abandoned-cart example end to end with analytics on: checkouts over HTTP, simulated hours on
 * the test clock, sends through the sandbox channels, an order, then the funnel and overview APIs
 * read what the sink put into ClickHouse. Runs on chDB, and on the server at CLICKHOUSE_URL when set.
 */
import { gbHash } from '@herald/projections';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_STORE, type EventStore } from '../event-store/event-store.port';
import { ScenarioTimers } from '../scenarios/scenario-timers';
import { TestClock } from '../shared/clock';
import { adminGet, adminSend, eventually, post, startTestApp, TEST_ADMIN_TOKEN, type TestApp } from '../test-support/herald-test-app';
import { CLICKHOUSE_URL, freshDatabaseUrl, warnIfNoServer } from './analytics-engines.fixture';
import { AnalyticsService } from './analytics.service';
import { ClickHouseServerAnalyticsStore } from './clickhouse-server-analytics-store';
import { identifier, sql } from './sql';

warnIfNoServer('Analytics API end to end');
// Generous: these suites share 2 cores with other work, and ClickHouse inserts slow down most under load.
jest.setTimeout(120_000);

const HOUR = 3_600_000;
const engines: Array<{ name: string; url?: string }> = [{ name: 'chDB (embedded)' }, ...(CLICKHOUSE_URL ? [{ name: 'ClickHouse server at CLICKHOUSE_URL', url: CLICKHOUSE_URL }] : [])];

function variantOf(userId: string): 'holdout' | 'plain' | 'discount' {
  const bucket = gbHash('abandoned-cart:reminder', userId, 2)!;
  return bucket < 0.1 ? 'holdout' : bucket < 0.1 + 0.9 * 0.5 ? 'plain' : 'discount';
}
function userWith(variant: 'holdout' | 'plain' | 'discount', prefix: string): string {
  for (let i = 0; ; i++) if (variantOf(`${prefix}${i}`) === variant) return `${prefix}${i}`;
}

describe.each(engines)('analytics API on $name', (engine) => {
  let herald: TestApp;
  let clock: TestClock;
  let databaseUrl: string | undefined;

  beforeEach(async () => {
    clock = new TestClock(new Date('2026-03-02T10:00:00Z'));
    databaseUrl = engine.url ? freshDatabaseUrl(engine.url) : undefined;
    herald = await startTestApp({ clock, env: { ANALYTICS: 'on', ANALYTICS_FLUSH_MS: '20', CLICKHOUSE_URL: databaseUrl } });
    const yaml = readFileSync(join(__dirname, '../../../examples/scenarios/abandoned-cart.yaml'), 'utf8');
    expect((await adminSend('POST', `${herald.url}/api/scenarios`, yaml, 'application/yaml')).status).toBe(201);
    // ClickHouse opens in the background after start (the API answers 503 until then).
    await eventually(async () => herald.app.get(AnalyticsService).analyticsSink);
  });
  afterEach(async () => {
    await herald.destroy();
    if (databaseUrl) {
      const store = await ClickHouseServerAnalyticsStore.connect(databaseUrl);
      await store.command(sql`DROP DATABASE IF EXISTS ${identifier(store.database)}`);
      await store.close();
    }
  });

  const eventsOf = async (userId: string, type: string) =>
    ((await adminGet(`${herald.url}/api/users/${encodeURIComponent(userId)}/events`)).body.events as Array<{ type: string }>).filter((e) => e.type === type);
  async function passTime(ms: number) {
    clock.advance(ms);
    await herald.app.get(ScenarioTimers).fireDue();
  }
  async function checkout(userId: string) {
    await post(`${herald.url}/v1/identify`, { userId, traits: { email: `${userId}@example.test`, phone: '+4915100000001' } });
    await post(`${herald.url}/v1/track`, { userId, event: 'Checkout Started', properties: { cart_id: `cart-${userId}` } });
    await eventually(async () => (await eventsOf(userId, 'TimerScheduled')).length === 1);
  }
  /** Waits until everything in the log so far is in ClickHouse. */
  async function sinkCaughtUp() {
    const head = await herald.app.get<symbol, EventStore>(EVENT_STORE).headPosition();
    const sink = await eventually(async () => herald.app.get(AnalyticsService).analyticsSink);
    await sink.caughtUpTo(head);
  }

  it('counts the abandoned-cart funnel per step and variant, with the goal as conversion', async () => {
    const plain = userWith('plain', 'ada');
    const discount = userWith('discount', 'bob');
    const held = userWith('holdout', 'cy');
    for (const user of [plain, discount, held]) await checkout(user);
    await passTime(HOUR);
    await eventually(async () => (await eventsOf(plain, 'MessageSent')).length === 1 && (await eventsOf(discount, 'MessageSent')).length === 1);
    await eventually(async () => (await eventsOf(held, 'MessageSuppressed')).length === 1);
    await post(`${herald.url}/v1/track`, { userId: discount, event: 'Order Completed', properties: { cart_id: `cart-${discount}` } });
    await eventually(async () => (await eventsOf(discount, 'GoalReached')).length === 1);
    await passTime(24 * HOUR);
    await eventually(async () => (await eventsOf(plain, 'MessageSent')).length === 2 && (await eventsOf(held, 'MessageSent')).length === 1);
    await sinkCaughtUp();

    const response = await adminGet(`${herald.url}/api/analytics/funnel?scenario=abandoned-cart&by=variant`);
    expect(response.status).toBe(200);
    const funnel = response.body;
    expect(funnel).toMatchObject({ workspace: 'default', scenarioId: 'abandoned-cart', from: '2026-02-02', to: '2026-03-03', by: 'variant' });
    expect(funnel.scenario).toMatchObject({ entered: 3, converted: 1 });
    expect(funnel.steps.map((step: { stepId: string }) => step.stepId)).toEqual(['wait-1h', 'reminder', 'wait-purchase', 'sms-nudge', 'done']);
    const reminder = funnel.steps[1];
    expect(reminder).toMatchObject({ entered: 3, sent: 2, converted: 1 });
    const byVariant = Object.fromEntries(reminder.variants.map((row: { variant: string }) => [row.variant, row]));
    expect(byVariant.plain).toEqual({ variant: 'plain', entered: 1, sent: 1, delivered: 0, opened: 0, clicked: 0, converted: 0 });
    expect(byVariant.discount).toEqual({ variant: 'discount', entered: 1, sent: 1, delivered: 0, opened: 0, clicked: 0, converted: 1 });
    expect(byVariant.holdout).toEqual({ variant: 'holdout', entered: 1, sent: 0, delivered: 0, opened: 0, clicked: 0, converted: 0 });
    // The SMS went to the two who did not order.
    expect(funnel.steps[3]).toMatchObject({ stepId: 'sms-nudge', entered: 2, sent: 2, converted: 0 });
    expect(funnel.steps[4]).toMatchObject({ stepId: 'done', entered: 2, sent: 0, converted: 0 });

    const byDay = (await adminGet(`${herald.url}/api/analytics/funnel?scenario=abandoned-cart&by=day&from=2026-03-02&to=2026-03-02`)).body;
    expect(byDay.scenario.days).toEqual([{ day: '2026-03-02', entered: 3, sent: 0, delivered: 0, opened: 0, clicked: 0, converted: 1 }]);
    const nextDay = (await adminGet(`${herald.url}/api/analytics/funnel?scenario=abandoned-cart&from=2026-03-03&to=2026-03-03`)).body;
    expect(nextDay.scenario.entered).toBe(0);

    const overview = await adminGet(`${herald.url}/api/analytics/overview?minutes=1440`);
    expect(overview.status).toBe(200);
    expect(overview.body.messages).toEqual([
      { channel: 'email', outcome: 'sent', messages: 2 },
      { channel: 'email', outcome: 'suppressed', messages: 1 },
      { channel: 'sms', outcome: 'sent', messages: 2 },
    ]);
    expect(overview.body.activeEnrollments).toEqual({ total: 0, byScenario: [{ scenarioId: 'abandoned-cart', started: 3, exited: 3, active: 0 }] });
    const perMinute = overview.body.eventsPerMinute as Array<{ minute: string; events: number }>;
    expect(perMinute.length).toBeGreaterThan(0);
    expect(perMinute.every((row) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00Z$/.test(row.minute) && row.events > 0)).toBe(true);

    const metrics = await adminGet(`${herald.url}/metrics`);
    expect(metrics.body).toMatch(/^herald_analytics_lag_events \d+$/m);
    expect(metrics.body).toMatch(/^herald_analytics_lag_seconds [\d.e+-]+$/m);
  });

  it('answers bad queries with a 400 naming the field, an unknown scenario with 404, and no token with 401', async () => {
    const get = (query: string) => adminGet(`${herald.url}/api/analytics/funnel${query}`);
    expect((await get('')).body).toMatchObject({ error: 'bad_request', path: 'scenario', message: 'scenario: is required' });
    expect((await get('?scenario=abandoned-cart&by=week')).body).toMatchObject({ error: 'bad_request', path: 'by' });
    expect((await get('?scenario=abandoned-cart&from=yesterday')).body).toMatchObject({ error: 'bad_request', path: 'from' });
    expect((await get('?scenario=abandoned-cart&from=2026-02-30')).body).toMatchObject({ error: 'bad_request', path: 'from' });
    expect((await get('?scenario=abandoned-cart&from=2026-03-05&to=2026-03-01')).body).toMatchObject({ error: 'bad_request', path: 'from' });
    // Days no ClickHouse Date holds are a 400 naming the parameter, never ClickHouse's own error (503).
    const outOfRange = 'must be a day from 1970-01-01 to 2105-12-31';
    expect(await get('?scenario=abandoned-cart&to=0000-01-01')).toMatchObject({ status: 400, body: { error: 'bad_request', path: 'to', message: `to: ${outOfRange}` } });
    expect(await get('?scenario=abandoned-cart&from=1969-12-31')).toMatchObject({ status: 400, body: { error: 'bad_request', path: 'from', message: `from: ${outOfRange}` } });
    expect(await get('?scenario=abandoned-cart&from=2026-03-01&to=2106-01-01')).toMatchObject({ status: 400, body: { error: 'bad_request', path: 'to' } });
    expect(await get('?scenario=abandoned-cart&from=9999-12-31&to=9999-12-31')).toMatchObject({ status: 400, body: { error: 'bad_request', path: 'from' } });
    // The default from (29 days before to) stops at the first day a Date holds; the edges are fine.
    expect(await get('?scenario=abandoned-cart&to=1970-01-10')).toMatchObject({ status: 200, body: { from: '1970-01-01', to: '1970-01-10', scenario: { entered: 0 } } });
    expect(await get('?scenario=abandoned-cart&from=2105-12-31&to=2105-12-31')).toMatchObject({ status: 200, body: { scenario: { entered: 0 } } });
    expect((await get('?scenario=abandoned-cart&colour=red')).body).toMatchObject({ error: 'bad_request', message: 'Unknown query parameter: colour' });
    expect((await get('?scenario=abandoned-cart&scenario=twice')).status).toBe(400);
    expect((await get(`?scenario=${encodeURIComponent("x'); DROP TABLE events; --")}`)).status).toBe(404);
    expect((await get('?scenario=abandoned-cart&workspace=nope')).status).toBe(404);
    expect((await adminGet(`${herald.url}/api/analytics/overview?minutes=0`)).body).toMatchObject({ error: 'bad_request', path: 'minutes' });
    expect((await adminGet(`${herald.url}/api/analytics/overview?minutes=abc`)).body).toMatchObject({ error: 'bad_request', path: 'minutes' });
    expect((await adminGet(`${herald.url}/api/analytics/overview`, 'wrong-token')).status).toBe(401);
    expect((await adminGet(`${herald.url}/api/analytics/overview`, TEST_ADMIN_TOKEN)).status).toBe(200);
  });
});
