import { randomUUID } from 'node:crypto';
import { TestClock } from '../shared/clock';
import { adminGet, post, startTestApp, tempDataDir, TEST_ADMIN_TOKEN, type TestApp } from '../test-support/herald-test-app';

describe('operations surface', () => {
  let herald: TestApp;
  beforeAll(async () => {
    herald = await startTestApp();
  });
  afterAll(() => herald.destroy());

  it('GET /health answers 200 with the store kind once the store is open', async () => {
    const response = await fetch(`${herald.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', store: 'sqlite' });
  });

  it('GET /metrics exposes ingested events, append latency, subscription lag and parked events in Prometheus format', async () => {
    await post(`${herald.url}/v1/track`, { userId: 'metrics-user', event: 'Measured' });
    const { status, body, headers } = await adminGet(`${herald.url}/metrics`);
    expect(status).toBe(200);
    expect(headers.get('content-type')).toMatch(/text\/plain/);
    expect(body).toMatch(/herald_ingested_events_total\{workspace="default",type="track"\} [1-9]/);
    expect(body).toMatch(/herald_append_duration_seconds_bucket\{le="0.01"\} \d+/);
    expect(body).toMatch(/herald_subscription_lag_events\{subscriber="projection:identity"\} \d+/);
    expect(body).toContain('herald_projection_parked_events{projection="scenarios"} 0');
  });

  it('publishes the OpenAPI document at /docs', async () => {
    const ui = await fetch(`${herald.url}/docs`);
    expect(ui.status).toBe(200);
    const document = (await (await fetch(`${herald.url}/docs/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/v1/track', '/v1/batch', '/api/users/{userId}/events', '/health', '/metrics']),
    );
  });

  it('serves the dashboard at /', async () => {
    const response = await fetch(`${herald.url}/`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('<div id="app"></div>');
  });

  it('requires the admin bearer token under /api', async () => {
    expect((await adminGet(`${herald.url}/api/users/x/events`, 'wrong')).status).toBe(401);
    const none = await fetch(`${herald.url}/api/users/x/events`);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: 'unauthorized' });
    expect((await adminGet(`${herald.url}/api/users/x/events?workspace=nope`)).status).toBe(404);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const response = await fetch(`${herald.url}/v1/nothing`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: 'not_found' });
  });

  it('never answers random junk with a 5xx', async () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const values = [null, true, 0, -1.5, 'x', '', [], {}, [1, 'a'], { a: { b: [] } }, 'x'.repeat(2000), 1e308, '2026-13-45T99:00:00Z'];
    const fields = ['userId', 'anonymousId', 'event', 'properties', 'traits', 'timestamp', 'sentAt', 'messageId', 'context', 'batch', 'type', 'previousId', 'groupId', 'writeKey'];
    const calls = ['track', 'identify', 'page', 'screen', 'group', 'alias', 'batch'];
    for (let i = 0; i < 300; i++) {
      const body: Record<string, unknown> = {};
      for (const field of fields) if (random() < 0.4) body[field] = values[Math.floor(random() * values.length)];
      if (random() < 0.3) body.batch = [{ ...body }, { ...body, type: 'track' }];
      const call = calls[Math.floor(random() * calls.length)];
      const raw = random() < 0.1 ? JSON.stringify(body).slice(0, Math.floor(random() * 40)) : JSON.stringify(body);
      const response = await post(`${herald.url}/v1/${call}`, raw);
      expect({ i, call, raw, status: response.status < 500 }).toEqual({ i, call, raw, status: true });
    }
  });
});

describe('first start and restarts', () => {
  it('creates the default workspace and prints generated secrets once; only hashes are kept', async () => {
    const dataDir = tempDataDir();
    const first = await startTestApp({ dataDir, env: { ADMIN_TOKEN: undefined, DEFAULT_WRITE_KEY: undefined } });
    const { writeKey, adminToken } = first.firstStartSecrets ?? {};
    expect(writeKey).toMatch(/^wk_/);
    expect(adminToken).toMatch(/^adm_/);
    const auth = { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}` };
    expect((await post(`${first.url}/v1/track`, { userId: 'first', event: 'Started' }, auth)).status).toBe(200);
    expect((await adminGet(`${first.url}/api/users/first/events`, adminToken)).status).toBe(200);
    await first.close();

    const second = await startTestApp({ dataDir, env: { ADMIN_TOKEN: undefined, DEFAULT_WRITE_KEY: undefined } });
    expect(second.firstStartSecrets).toBeUndefined();
    expect((await post(`${second.url}/v1/track`, { userId: 'first', event: 'Again' }, auth)).status).toBe(200);
    const history = await adminGet(`${second.url}/api/users/first/events`, adminToken);
    expect(history.body.events).toHaveLength(2);
    const admin = await adminGet(`${second.url}/api/users/first/events`, TEST_ADMIN_TOKEN);
    expect(admin.status).toBe(401);
    await second.destroy();
  });

  it('keeps every acknowledged event and the messageId dedupe across a restart, and more than 24 h later', async () => {
    const dataDir = tempDataDir();
    const first = await startTestApp({ dataDir });
    const messageIds = Array.from({ length: 50 }, () => randomUUID());
    const acks = await Promise.all(
      messageIds.map((messageId, i) => post(`${first.url}/v1/track`, { userId: `restart-${i % 5}`, event: 'Kept', messageId })),
    );
    expect(acks.every((a) => a.status === 200)).toBe(true);
    await first.close();

    // Restarted 25 hours later: the dedupe window is at least a day (the derived event ids are kept
    // with the log, so it has no end).
    const second = await startTestApp({ dataDir, clock: new TestClock(new Date(Date.now() + 25 * 3_600_000)) });
    await Promise.all(messageIds.map((messageId) => post(`${second.url}/v1/track`, { userId: 'restart-0', event: 'Kept', messageId })));
    let total = 0;
    for (let u = 0; u < 5; u++) total += (await adminGet(`${second.url}/api/users/restart-${u}/events`)).body.events.length;
    expect(total).toBe(50);
    await second.destroy();
  });
});
