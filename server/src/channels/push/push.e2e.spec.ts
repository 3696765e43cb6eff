/** The whole app over HTTP: VAPID key, per-user access tokens, browser subscriptions. */
import { createECDH, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { TestClock } from '../../shared/clock';
import { adminGet, adminSend, startTestApp, TEST_ADMIN_TOKEN, type TestApp } from '../../test-support/herald-test-app';
import { vapidKeysPath } from './vapid-keys';

let herald: TestApp | undefined;
afterEach(async () => {
  await herald?.destroy();
  herald = undefined;
});

function browserSubscription(name: string) {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { endpoint: `https://push.example/send/${name}`, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') } };
}

async function call(method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const response = await fetch(`${herald!.url}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

const eventsOf = async (userId: string): Promise<Array<{ type: string; data: Record<string, any> }>> =>
  (await adminGet(`${herald!.url}/api/users/${userId}/events`)).body.events ?? [];

describe('web push over HTTP', () => {
  it('generates the VAPID key pair on first start, keeps it in DATA_DIR and serves the same public key after a restart', async () => {
    herald = await startTestApp();
    const first = await call('GET', '/v1/push/vapid-public-key');
    expect(first.status).toBe(200);
    expect(first.headers.get('access-control-allow-origin')).toBe('*');
    expect(Buffer.from(first.body.publicKey, 'base64url')).toHaveLength(65);
    const path = vapidKeysPath(herald.dataDir);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8')).publicKey).toBe(first.body.publicKey);

    const dataDir = herald.dataDir;
    await herald.close();
    herald = await startTestApp({ dataDir });
    expect((await call('GET', '/v1/push/vapid-public-key')).body).toEqual(first.body);
  });

  it('stores a browser subscription for the token holder once, removes it on DELETE, and refuses bad tokens and bodies', async () => {
    const clock = new TestClock(new Date('2026-01-01T00:00:00Z'));
    herald = await startTestApp({ clock });
    expect((await call('POST', '/api/users/ada/access-token')).status).toBe(401);
    const issued = await adminSend('POST', `${herald.url}/api/users/ada/access-token`, { ttlSeconds: 3600 });
    expect(issued).toEqual({ status: 201, body: { workspace: 'default', userId: 'ada', token: expect.any(String), expiresAt: '2026-01-01T01:00:00.000Z' } });
    expect((await adminSend('POST', `${herald.url}/api/users/ada/access-token`, { ttlSeconds: 0 })).status).toBe(400);
    const token: string = issued.body.token;
    const subscription = browserSubscription('laptop');

    const preflight = await call('OPTIONS', '/v1/push/subscriptions', { headers: { origin: 'https://shop.test', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');

    const anonymous = await call('POST', '/v1/push/subscriptions', { body: subscription });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('access-control-allow-origin')).toBe('*');
    expect((await call('POST', '/v1/push/subscriptions', { token: `${token}x`, body: subscription })).status).toBe(401);
    expect((await call('POST', '/v1/push/subscriptions', { token: TEST_ADMIN_TOKEN, body: subscription })).status).toBe(401);
    const insecure = await call('POST', '/v1/push/subscriptions', { token, body: { ...subscription, endpoint: 'http://push.example/x' } });
    expect(insecure).toMatchObject({ status: 400, body: { path: 'endpoint' } });
    expect((await call('POST', '/v1/push/subscriptions', { token, body: { ...subscription, keys: { p256dh: 'x', auth: 'y' } } })).status).toBe(400);
    expect(await eventsOf('ada')).toEqual([]);

    expect(await call('POST', '/v1/push/subscriptions', { token, body: subscription })).toMatchObject({ status: 201, body: { endpoint: subscription.endpoint, subscribed: true } });
    expect(await call('POST', '/v1/push/subscriptions', { token, body: subscription })).toMatchObject({ status: 200 });
    expect((await eventsOf('ada')).filter((e) => e.type === 'PushSubscribed')).toEqual([
      expect.objectContaining({ data: { subscription: { endpoint: subscription.endpoint, keys: subscription.keys } } }),
    ]);

    expect(await call('DELETE', '/v1/push/subscriptions', { token, body: { endpoint: subscription.endpoint } })).toMatchObject({ status: 200, body: { removed: true } });
    expect(await call('DELETE', `/v1/push/subscriptions?endpoint=${encodeURIComponent(subscription.endpoint)}`, { token })).toMatchObject({
      status: 200,
      body: { removed: false },
    });
    // Subscribing the same browser again after a removal is recorded again.
    expect((await call('POST', '/v1/push/subscriptions', { token, body: subscription })).status).toBe(201);
    expect((await eventsOf('ada')).map((e) => e.type)).toEqual(['PushSubscribed', 'PushSubscriptionRemoved', 'PushSubscribed']);

    clock.advance(3601_000);
    expect((await call('POST', '/v1/push/subscriptions', { token, body: browserSubscription('phone') })).status).toBe(401);
  });

  it('with WEB_PUSH=off has no push routes but still issues access tokens', async () => {
    herald = await startTestApp({ env: { WEB_PUSH: 'off' } });
    expect((await call('GET', '/v1/push/vapid-public-key')).status).toBe(404);
    expect((await adminSend('POST', `${herald.url}/api/users/ada/access-token`)).status).toBe(201);
  });
});
