/** web-push against a real local HTTPS push service that checks VAPID and decrypts like a browser. */
import { userStream } from '@herald/projections';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStore } from '../../event-store/event-store.port';
import { SqliteEventStore } from '../../event-store/sqlite/sqlite-event-store';
import { TestClock } from '../../shared/clock';
import { openStateDb, type StateDb } from '../../state/state-db';
import { type Delivery, PermanentDeliveryError, TransientDeliveryError } from '../channel.port';
import { Dispatcher } from '../dispatcher.projection';
import { LinkSigner } from '../link-signer';
import { queueMessage } from '../queued-message.fixture';
import type { MessageRenderer } from '../renderer.port';
import { LocalPushService } from './local-push-service.fixture';
import { PushSubscriptions } from './push-subscriptions.service';
import { loadOrCreateVapidKeys, type VapidKeys, vapidKeysPath } from './vapid-keys';
import { pushTopic, WebPushAdapter } from './web-push.adapter';

let service: LocalPushService;
let dataDir: string;
let vapid: VapidKeys;
let adapter: WebPushAdapter;

beforeAll(async () => {
  service = await LocalPushService.start();
});
afterAll(() => service.close());
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'herald-vapid-'));
  vapid = loadOrCreateVapidKeys(dataDir);
  adapter = new WebPushAdapter({ vapid, subject: 'mailto:ops@herald.test', agent: service.agent(), timeoutMs: 5000 });
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const delivery = (subscription: Delivery['pushSubscription'], messageId = 'm-1'): Delivery => ({
  messageId,
  workspace: 'default',
  person: 'user:ada',
  channel: 'push',
  to: subscription!.endpoint,
  content: { subject: 'Your cart', text: 'Still thinking about it, Ada?', url: 'https://shop.test/cart' },
  links: {},
  pushSubscription: subscription,
});

describe('VAPID keys', () => {
  it('are generated once into DATA_DIR/secrets/vapid.json (mode 600) and reused', () => {
    const path = vapidKeysPath(dataDir);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject(vapid);
    expect(Buffer.from(vapid.publicKey, 'base64url')).toHaveLength(65);
    expect(loadOrCreateVapidKeys(dataDir)).toEqual(vapid);
  });
});

describe('WebPushAdapter against a local push service', () => {
  it('delivers an encrypted payload the browser side can decrypt, signed with the VAPID key', async () => {
    const browser = service.subscriber('ok');
    expect(adapter.safeToRetry).toBe(true);
    expect(adapter.address({ traits: {}, pushSubscriptions: [] })).toBeUndefined();
    const older = service.subscriber('older').subscription;
    expect(adapter.address({ traits: {}, pushSubscriptions: [older, browser.subscription] })).toBe(browser.subscription.endpoint);

    const result = await adapter.send(delivery(browser.subscription));
    expect(result.providerMessageId).toMatch(new RegExp(`^${service.url}/message/\\d+$`));
    expect(service.refused).toEqual([]);
    expect(browser.received).toHaveLength(1);
    const [push] = browser.received;
    expect(push.payload).toEqual({ title: 'Your cart', body: 'Still thinking about it, Ada?', url: 'https://shop.test/cart', messageId: 'm-1' });
    expect(push.vapid.publicKey).toBe(vapid.publicKey);
    expect(push.vapid.claims).toMatchObject({ aud: service.url, sub: 'mailto:ops@herald.test' });
    expect(push.headers.ttl).toBe('86400');
    expect(push.headers.topic).toBe(pushTopic('m-1'));
  });

  it('maps 410 and 404 to permanent unreachable errors, 429 and 5xx to transient', async () => {
    for (const status of [410, 404]) {
      const gone = service.subscriber(`gone-${status}`, status);
      const error = await adapter.send(delivery(gone.subscription)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentDeliveryError);
      expect(error).toMatchObject({ code: `push_${status}`, unreachable: true });
    }
    await expect(adapter.send(delivery(service.subscriber('busy', 429).subscription))).rejects.toMatchObject({ name: 'TransientDeliveryError', retryAfterMs: 30_000 });
    await expect(adapter.send(delivery(service.subscriber('down', 503).subscription))).rejects.toBeInstanceOf(TransientDeliveryError);
    await expect(adapter.send(delivery(service.subscriber('bad', 400).subscription))).rejects.toMatchObject({ code: 'push_400', unreachable: false });
  });

  it('treats an unreachable service as transient and a certificate it cannot trust as transient too (no agent)', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const nowhere = { endpoint: `https://127.0.0.1:${port}/push/x`, keys: service.subscriber('x').subscription.keys };
    await expect(adapter.send(delivery(nowhere))).rejects.toBeInstanceOf(TransientDeliveryError);
    const untrusting = new WebPushAdapter({ vapid, subject: 'mailto:ops@herald.test' });
    await expect(untrusting.send(delivery(service.subscriber('tls').subscription))).rejects.toBeInstanceOf(TransientDeliveryError);
    await expect(adapter.send({ ...delivery(service.subscriber('y').subscription), pushSubscription: undefined })).rejects.toMatchObject({ code: 'push_no_subscription' });
  });
});

describe('push through the dispatcher', () => {
  let store: EventStore;
  let db: StateDb;
  let clock: TestClock;

  beforeEach(() => {
    store = new SqliteEventStore({ path: ':memory:' });
    db = openStateDb(':memory:');
    clock = new TestClock(new Date('2026-01-01T00:00:00Z'));
  });
  afterEach(async () => {
    await store.close();
    db.close();
  });

  it('sends to the latest subscription; a 410 or a 404 removes it, and the next message goes to the one before', async () => {
    const renderer: MessageRenderer = { render: async () => ({ subject: 'Hi', text: 'Back in stock', url: 'https://shop.test/p/1' }) };
    const dispatcher = new Dispatcher(db, store, { push: adapter }, renderer, new LinkSigner(Buffer.from('k'), 'https://herald.test'), clock, { retryBaseMs: 1 });
    const subscriptions = new PushSubscriptions(store, clock);
    const stream = userStream('default', 'ada');
    const laptop = service.subscriber('laptop');
    const tablet = service.subscriber('tablet', 404);
    const phone = service.subscriber('phone', 410);
    await subscriptions.subscribe('default', 'user:ada', laptop.subscription);
    await subscriptions.subscribe('default', 'user:ada', tablet.subscription);
    await subscriptions.subscribe('default', 'user:ada', phone.subscription);
    const queue = (messageId: string) => queueMessage(store, stream, messageId, 'push', clock.now());
    const types = async () => (await store.readStream(stream)).map((e) => ({ type: e.type, data: e.data as Record<string, unknown> }));

    await dispatcher.handle(await queue('m-1'));
    await dispatcher.drain();
    let events = await types();
    expect(events.find((e) => e.type === 'MessageFailed')?.data).toMatchObject({ messageId: 'm-1', code: 'push_410', provider: 'web-push' });
    expect(events.at(-1)).toEqual({ type: 'PushSubscriptionRemoved', data: { endpoint: phone.subscription.endpoint, reason: 'push_410' } });

    await dispatcher.handle(await queue('m-2'));
    await dispatcher.drain();
    events = await types();
    expect(events.find((e) => e.type === 'MessageFailed' && e.data.messageId === 'm-2')?.data).toMatchObject({ code: 'push_404', provider: 'web-push' });
    expect(events.at(-1)).toEqual({ type: 'PushSubscriptionRemoved', data: { endpoint: tablet.subscription.endpoint, reason: 'push_404' } });

    await dispatcher.handle(await queue('m-3'));
    await dispatcher.drain();
    events = await types();
    expect(events.at(-1)).toMatchObject({ type: 'MessageSent', data: { messageId: 'm-3', provider: 'web-push', to: laptop.subscription.endpoint } });
    expect(laptop.received.map((r) => r.payload)).toEqual([{ title: 'Hi', body: 'Back in stock', url: 'https://shop.test/p/1', messageId: 'm-3' }]);
  });
});
