import { createECDH, randomBytes } from 'node:crypto';
import type { RecordedEvent } from '../../event-store/event-store.port';
import { LinkSigner } from '../link-signer';
import { issueAccessToken, verifyAccessToken } from './access-token';
import { decideSubscribe, decideUnsubscribe, parsePushSubscription } from './push-subscription';
import { pushPayload, pushTopic } from './web-push.adapter';

function browserSubscription(endpoint = 'https://push.example/send/abc') {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { endpoint, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') } };
}

let revision = 0;
const recorded = (type: string, data: Record<string, unknown>): RecordedEvent =>
  ({ id: `id-${revision}`, type, data, stream: 'user-default:ada', revision: revision++, position: revision, recordedAt: '', metadata: { workspace: 'default', occurredAt: '', receivedAt: '', schemaVersion: 1 } });

describe('push subscriptions', () => {
  it('accepts a browser PushSubscription and keeps only endpoint and keys', () => {
    const body = browserSubscription();
    expect(parsePushSubscription(body)).toEqual({ endpoint: body.endpoint, keys: body.keys });
  });

  it('refuses what is not a browser subscription, naming the field', () => {
    const good = browserSubscription();
    const cases: Array<[unknown, string]> = [
      [null, ''],
      [{ ...good, endpoint: 'http://push.example/x' }, 'endpoint'],
      [{ ...good, endpoint: 'not a url' }, 'endpoint'],
      [{ ...good, endpoint: 'https://user:pw@push.example/x' }, 'endpoint'],
      [{ ...good, endpoint: `https://push.example/${'x'.repeat(2048)}` }, 'endpoint'],
      [{ endpoint: good.endpoint }, 'keys'],
      [{ ...good, keys: { ...good.keys, p256dh: 'not base64url!' } }, 'keys.p256dh'],
      [{ ...good, keys: { ...good.keys, p256dh: randomBytes(65).toString('base64url').replace(/^./, 'A') } }, 'keys.p256dh'],
      [{ ...good, keys: { ...good.keys, auth: randomBytes(12).toString('base64url') } }, 'keys.auth'],
    ];
    for (const [body, path] of cases) expect(() => parsePushSubscription(body)).toThrow(expect.objectContaining({ name: 'InvalidPushSubscriptionError', path }));
  });

  it('given no subscription, subscribing records one; the same again records nothing; new keys record again', () => {
    const subscription = parsePushSubscription(browserSubscription());
    const first = decideSubscribe([], subscription);
    expect(first).toEqual([{ key: `subscribed|${subscription.endpoint}|0`, type: 'PushSubscribed', data: { subscription } }]);
    const history = [recorded('PushSubscribed', { subscription })];
    expect(decideSubscribe(history, subscription)).toEqual([]);
    const rotated = { ...subscription, keys: { ...subscription.keys, auth: randomBytes(16).toString('base64url') } };
    expect(decideSubscribe(history, rotated)[0].key).toBe(`subscribed|${subscription.endpoint}|1`);
  });

  it('given a removal (by the browser or a 410), subscribing the same endpoint again is recorded with a new key', () => {
    const subscription = parsePushSubscription(browserSubscription());
    const history = [recorded('PushSubscribed', { subscription })];
    expect(decideUnsubscribe(history, subscription.endpoint)).toEqual([
      { key: `removed|${subscription.endpoint}|0`, type: 'PushSubscriptionRemoved', data: { endpoint: subscription.endpoint, reason: 'unsubscribed' } },
    ]);
    history.push(recorded('PushSubscriptionRemoved', { endpoint: subscription.endpoint, reason: 'push_410' }));
    expect(decideUnsubscribe(history, subscription.endpoint)).toEqual([]);
    expect(decideSubscribe(history, subscription)[0].key).toBe(`subscribed|${subscription.endpoint}|1`);
  });
});

describe('access tokens', () => {
  const signer = new LinkSigner(Buffer.from('secret'), 'https://herald.test');
  const now = new Date('2026-01-01T00:00:00Z');

  it('grant the workspace and person until they expire', () => {
    const { token, expiresAt } = issueAccessToken(signer, { workspace: 'default', person: 'user:ada', now, ttlSeconds: 60 });
    expect(expiresAt).toBe('2026-01-01T00:01:00.000Z');
    expect(verifyAccessToken(signer, token, now)).toEqual({ workspace: 'default', person: 'user:ada', expiresAt });
    expect(verifyAccessToken(signer, token, new Date('2026-01-01T00:01:01Z'))).toBeUndefined();
  });

  it('refuse other kinds of signed links, tokens without expiry, altered and foreign tokens', () => {
    expect(verifyAccessToken(signer, signer.sign({ k: 'u', w: 'default', p: 'user:ada', e: 2e9 }), now)).toBeUndefined();
    expect(verifyAccessToken(signer, signer.sign({ k: 'i', w: 'default', p: 'user:ada' }), now)).toBeUndefined();
    const { token } = issueAccessToken(signer, { workspace: 'default', person: 'user:ada', now });
    const [body, mac] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), p: 'user:eve' })).toString('base64url');
    expect(verifyAccessToken(signer, `${forged}.${mac}`, now)).toBeUndefined();
    expect(verifyAccessToken(signer, `${token}x`, now)).toBeUndefined();
    expect(verifyAccessToken(signer, `${body}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`, now)).toBeUndefined();
    expect(verifyAccessToken(new LinkSigner(Buffer.from('other'), ''), token, now)).toBeUndefined();
  });
});

describe('push payload', () => {
  it('is the JSON a service worker shows, cut to fit one 4 KiB record', () => {
    expect(JSON.parse(pushPayload({ messageId: 'm', content: { subject: 'Hi', text: 'Body', url: 'https://x.test' } }))).toEqual({
      title: 'Hi',
      body: 'Body',
      url: 'https://x.test',
      messageId: 'm',
    });
    const long = pushPayload({ messageId: 'm', content: { text: 'é'.repeat(5000) } });
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(3993);
    expect(JSON.parse(long).body).toMatch(/^é+…$/);
    expect(pushTopic('m-1')).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});
