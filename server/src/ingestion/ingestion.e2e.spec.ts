import { gzipSync } from 'node:zlib';
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { randomUUID } from 'node:crypto';
import { adminGet, basicAuth, eventually, post, startTestApp, TEST_WRITE_KEY, type TestApp } from '../test-support/herald-test-app';

let herald: TestApp;
beforeAll(async () => {
  herald = await startTestApp();
});
afterAll(() => herald.destroy());

const historyOf = async (userId: string) => (await adminGet(`${herald.url}/api/users/${encodeURIComponent(userId)}/events`)).body;
const head = async () => (await adminGet(`${herald.url}/health`)).body.head as number;

describe('Segment SDKs send to Herald unchanged, with only the host set', () => {
  it('@segment/analytics-node: every call type is stored on the user stream', async () => {
    const analytics = new SegmentAnalytics({ writeKey: TEST_WRITE_KEY, host: herald.url, flushAt: 3, maxRetries: 0 });
    const errors: unknown[] = [];
    analytics.on('error', (error) => errors.push(error));
    const userId = `seg-${randomUUID()}`;
    analytics.identify({ userId, traits: { email: 'ada@example.com', plan: 'pro' } });
    analytics.track({ userId, event: 'Checkout Started', properties: { cart_id: 'c1', total: 42 } });
    analytics.page({ userId, name: 'Pricing', properties: { path: '/pricing' } });
    analytics.screen({ userId, name: 'Home' });
    analytics.group({ userId, groupId: 'acme', traits: { seats: 10 } });
    analytics.alias({ userId, previousId: `old-${userId}` });
    await analytics.closeAndFlush();
    expect(errors).toEqual([]);
    const history = await historyOf(userId);
    expect(history.events.map((e: { type: string }) => e.type)).toEqual(
      expect.arrayContaining(['Identified', 'Tracked', 'PageViewed', 'ScreenViewed', 'Grouped', 'Aliased']),
    );
    const tracked = history.events.find((e: { type: string }) => e.type === 'Tracked');
    expect(tracked.data).toMatchObject({ event: 'Checkout Started', properties: { cart_id: 'c1', total: 42 }, userId });
    expect(tracked.metadata).toMatchObject({ workspace: 'default', schemaVersion: 1 });
    expect(tracked.data.context.library.name).toBe('@segment/analytics-node');
  });

  it('@rudderstack/rudder-sdk-node (gzip-compressed batches) is accepted too', async () => {
    const rudder = new RudderAnalytics(TEST_WRITE_KEY, { dataPlaneUrl: herald.url, flushAt: 100, flushInterval: 60_000, retryCount: 0, logLevel: 'error' });
    const userId = `rs-${randomUUID()}`;
    rudder.identify({ userId, traits: { plan: 'free' } });
    rudder.track({ userId, event: 'Product Viewed', properties: { category: 'shoes' } });
    await rudder.flush();
    const history = await historyOf(userId);
    expect(history.events.map((e: { type: string }) => e.type)).toEqual(['Identified', 'Tracked']);
  });
});

describe('tracking API over HTTP', () => {
  it('accepts the write key as Basic-auth user name or as writeKey in the body, and answers 401 otherwise', async () => {
    const body = { userId: 'u-auth', event: 'Signed Up' };
    expect((await post(`${herald.url}/v1/track`, body)).status).toBe(200);
    expect((await post(`${herald.url}/v1/track`, { ...body, writeKey: TEST_WRITE_KEY }, { authorization: '' })).status).toBe(200);
    const unknown = await post(`${herald.url}/v1/track`, body, { authorization: basicAuth('nope') });
    expect(unknown).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect((await post(`${herald.url}/v1/track`, body, { authorization: '' })).status).toBe(401);
  });

  it("answers analytics.js's short paths and CORS: the preflight, and the header on answers and errors alike", async () => {
    const preflight = await fetch(`${herald.url}/v1/t`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    const short = await fetch(`${herald.url}/v1/t`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: 'https://shop.example', authorization: basicAuth(TEST_WRITE_KEY) },
      body: JSON.stringify({ userId: 'u-short', event: 'Short Path' }),
    });
    expect([short.status, short.headers.get('access-control-allow-origin')]).toEqual([200, '*']);
    const refused = await fetch(`${herald.url}/v1/b`, { method: 'POST', headers: { 'content-type': 'text/plain', origin: 'https://shop.example' }, body: '{"batch":[]}' });
    expect([refused.status, refused.headers.get('access-control-allow-origin')]).toEqual([401, '*']);
    const history = await adminGet(`${herald.url}/api/users/u-short/events`);
    expect(history.body.events.map((event: { type: string; data: { event?: string } }) => [event.type, event.data.event])).toEqual([['Tracked', 'Short Path']]);
  });

  it("takes the server libraries' uploads as they send them: /v1/import (with its trailing slash), nulls for what was not given, a screen's category", async () => {
    // analytics-ruby's batch: `null` for integrations and options it was not given; analytics-java posts to /v1/import/.
    const ruby = {
      sentAt: '2026-03-01T10:00:01.000Z',
      batch: [
        { type: 'track', userId: 'u-ruby', anonymousId: null, event: 'Signed Up', properties: { plan: 'pro' }, integrations: null, options: null, context: { library: { name: 'analytics-ruby', version: '2.4.0' } }, timestamp: '2026-03-01T10:00:00.000Z', messageId: 'rb-1' },
        { type: 'screen', userId: 'u-ruby', name: 'Welcome', category: 'Onboarding', properties: null, integrations: null, messageId: 'rb-2' },
        { type: 'identify', userId: '', anonymousId: 'a-ruby', traits: { plan: 'pro' }, integrations: null, messageId: 'rb-3' },
      ],
    };
    for (const path of ['/v1/import', '/v1/import/']) expect((await post(`${herald.url}${path}`, ruby)).status).toBe(200);
    const events = (await adminGet(`${herald.url}/api/users/u-ruby/events`)).body.events as Array<{ type: string; data: Record<string, unknown> }>;
    expect(events.map((event) => event.type)).toEqual(['Tracked', 'ScreenViewed']);
    expect(events[0].data).toMatchObject({ event: 'Signed Up', properties: { plan: 'pro' }, integrations: {} });
    expect(events[1].data).toMatchObject({ name: 'Welcome', category: 'Onboarding' });
    expect((await post(`${herald.url}/v1/track/`, { userId: 'u-ruby', event: 'Slash' })).status).toBe(200);
  });

  it('rejects bad input with a 4xx naming the problem, and stores nothing of it', async () => {
    const before = await head();
    const cases: Array<[string, unknown, number, RegExp | undefined]> = [
      ['track', '{"userId": "u1", "event": ', 400, /not valid JSON/],
      ['track', { userId: 'u1', event: 42 }, 400, /event/],
      ['track', { event: 'No One' }, 400, /userId or anonymousId/],
      ['identify', { userId: 'u1', traits: 'plan=pro' }, 400, /traits/],
      ['track', { userId: 'u1', event: 'Big', properties: { blob: 'x'.repeat(33 * 1024) } }, 413, /32768/],
      ['batch', { batch: [] }, 400, undefined],
      ['track', [1, 2, 3], 400, undefined],
      ['track', '', 400, /empty/],
    ];
    for (const [call, body, status, message] of cases) {
      const response = await post(`${herald.url}/v1/${call}`, body);
      expect({ call, body, status: response.status }).toEqual({ call, body, status });
      expect(typeof response.body.error).toBe('string');
      if (message) expect(response.body.message).toMatch(message);
    }
    // Validation errors name the field.
    const wrongType = await post(`${herald.url}/v1/identify`, { userId: 'u1', traits: 'plan=pro', timestamp: 'soon' });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.problems.map((p: { path: string }) => p.path).sort()).toEqual(['timestamp', 'traits']);
    // Nested thousands of levels deep (valid JSON, 35 KB): a 400 with the path, not a stack overflow.
    const deep = `{"userId":"u1","event":"Deep","properties":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
    const tooDeep = await post(`${herald.url}/v1/track`, deep);
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.problems[0]).toEqual({ path: expect.stringMatching(/^properties(\.a){63}$/), message: expect.stringContaining('more than 64 levels') });
    const deepInBatch = await post(`${herald.url}/v1/batch`, `{"batch":[{"type":"track","userId":"u1","event":"Fine"},{"type":"track","userId":"u1","event":"Deep","properties":${'['.repeat(5000)}${']'.repeat(5000)}}]}`);
    expect(deepInBatch.status).toBe(400);
    expect(deepInBatch.body.problems[0].path).toMatch(/^batch\[1\]\.properties(\[0\]){63}$/);
    expect(await head()).toBe(before);
  });

  it('rejects a batch with one bad event whole, naming its index and field path', async () => {
    const before = await head();
    const response = await post(`${herald.url}/v1/batch`, {
      batch: [
        { type: 'track', userId: 'b1', event: 'Fine' },
        { type: 'track', userId: 'b1', event: 'Fine too' },
        { type: 'track', userId: 'b1', properties: [] },
      ],
    });
    expect(response.status).toBe(400);
    expect(response.body.index).toBe(2);
    expect(response.body.problems.map((p: { path: string }) => p.path)).toEqual(
      expect.arrayContaining(['batch[2].event', 'batch[2].properties']),
    );
    expect(await head()).toBe(before);
  });

  it('rejects a body over 500 KB with 413', async () => {
    const batch = Array.from({ length: 40 }, () => ({ type: 'track', userId: 'big', event: 'X', properties: { pad: 'y'.repeat(15_000) } }));
    const response = await post(`${herald.url}/v1/batch`, { batch });
    expect(response.status).toBe(413);
    expect(response.body.error).toBe('payload_too_large');
  });

  it('stores a duplicate messageId once, even across routes', async () => {
    const messageId = randomUUID();
    const body = { userId: 'dup-user', event: 'Order Completed', messageId };
    for (let i = 0; i < 3; i++) expect((await post(`${herald.url}/v1/track`, body)).status).toBe(200);
    expect((await post(`${herald.url}/v1/batch`, { batch: [{ ...body, type: 'track' }] })).status).toBe(200);
    const history = await historyOf('dup-user');
    expect(history.events.filter((e: { data: { messageId: string } }) => e.data.messageId === messageId)).toHaveLength(1);

    // One batch carrying a messageId twice (a client that queued a retry beside the original) stores
    // its first copy, as two calls would, instead of refusing the whole batch.
    const twice = randomUUID();
    const batch = [
      { type: 'track', userId: 'dup-batch', event: 'Order Completed', messageId: twice, properties: { copy: 1 } },
      { type: 'track', userId: 'dup-batch', event: 'Product Viewed' },
      { type: 'track', userId: 'dup-batch', event: 'Order Completed', messageId: twice, properties: { copy: 2 } },
    ];
    expect(await post(`${herald.url}/v1/batch`, { batch })).toMatchObject({ status: 200, body: { success: true } });
    const stored = (await historyOf('dup-batch')).events.map((e: { data: { event: string; properties?: { copy: number } } }) => [e.data.event, e.data.properties?.copy]);
    expect(stored).toEqual([
      ['Order Completed', 1],
      ['Product Viewed', undefined],
    ]);
  });

  it('accepts gzip-compressed bodies', async () => {
    const body = gzipSync(JSON.stringify({ userId: 'gz-user', event: 'Zipped' }));
    const response = await post(`${herald.url}/v1/track`, body, { 'content-encoding': 'gzip' });
    expect(response.status).toBe(200);
    expect((await historyOf('gz-user')).events).toHaveLength(1);
  });

  it('corrects device clock skew using sentAt and receivedAt', async () => {
    // The device clock runs one hour fast: it stamped the event 10 s before sending.
    const deviceNow = Date.now() + 3_600_000;
    const body = {
      userId: 'skewed',
      event: 'Opened App',
      timestamp: new Date(deviceNow - 10_000).toISOString(),
      sentAt: new Date(deviceNow).toISOString(),
    };
    expect((await post(`${herald.url}/v1/track`, body)).status).toBe(200);
    const [event] = (await historyOf('skewed')).events;
    const corrected = Date.parse(event.data.timestamp);
    const receivedAt = Date.parse(event.data.receivedAt);
    expect(receivedAt - corrected).toBe(10_000);
    expect(event.metadata.occurredAt).toBe(event.data.timestamp);
    expect(event.data.originalTimestamp).toBe(body.timestamp);
  });
});

describe('identity', () => {
  it('gives events sent with an anonymousId before identify to that user, and later anonymous events too', async () => {
    const anonymousId = `anon-${randomUUID()}`;
    const userId = `user-${randomUUID()}`;
    expect((await post(`${herald.url}/v1/page`, { anonymousId, name: 'Landing' })).status).toBe(200);
    expect((await post(`${herald.url}/v1/track`, { anonymousId, event: 'Product Viewed' })).status).toBe(200);
    expect((await post(`${herald.url}/v1/identify`, { anonymousId, userId, traits: { email: 'x@example.com' } })).status).toBe(200);
    // The scenario engine joins what it knew of the visitor to the user (docs/scenarios.md); waited
    // for here so the user's stream has a fixed order.
    await eventually(async () => (await historyOf(userId)).events.some((e: { type: string }) => e.type === 'PersonMerged'));
    expect((await post(`${herald.url}/v1/track`, { anonymousId, event: 'Checkout Started' })).status).toBe(200);
    const history = await historyOf(userId);
    expect(history.userId).toBe(userId);
    expect(history.events.map((e: { type: string }) => e.type)).toEqual(['PageViewed', 'Tracked', 'IdentityLinked', 'Identified', 'PersonMerged', 'Tracked']);
    const positions = history.events.map((e: { position: number }) => e.position);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    // Each with its stream, its revision there, and the envelope's metadata.
    expect(history.events.map((e: { stream: string; revision: number }) => [e.stream, e.revision])).toEqual([
      [`anon-default:${anonymousId}`, 0],
      [`anon-default:${anonymousId}`, 1],
      [`user-default:${userId}`, 0],
      [`user-default:${userId}`, 1],
      [`user-default:${userId}`, 2],
      [`user-default:${userId}`, 3],
    ]);
    for (const event of history.events) {
      expect(event.metadata).toMatchObject({ workspace: 'default', occurredAt: expect.any(String), receivedAt: expect.any(String), schemaVersion: 1 });
    }
    expect(history.events[2].metadata.causationId).toBe(history.events[3].id);
    const viaAnonymous = await historyOf(anonymousId);
    expect(viaAnonymous.userId).toBe(userId);
    expect(viaAnonymous.events).toEqual(history.events);
  });

  it('links ids through alias, including chains', async () => {
    const first = `a-${randomUUID()}`;
    const second = `b-${randomUUID()}`;
    const third = `c-${randomUUID()}`;
    await post(`${herald.url}/v1/track`, { userId: first, event: 'One' });
    await post(`${herald.url}/v1/alias`, { previousId: first, userId: second });
    await post(`${herald.url}/v1/track`, { userId: first, event: 'Two' });
    await post(`${herald.url}/v1/alias`, { previousId: second, userId: third });
    const history = await historyOf(first);
    expect(history.userId).toBe(third);
    expect(history.events.filter((e: { type: string }) => e.type === 'Tracked').map((e: { data: { event: string } }) => e.data.event)).toEqual([
      'One',
      'Two',
    ]);
  });
});
