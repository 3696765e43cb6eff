/**
 * SMS through the whole app: a tracked event enrols a user, the scenario queues an SMS, the
 * dispatcher sends it with the real `twilio` client to a local Twilio, which posts signed status
 * callbacks back; an inbound STOP unsubscribes and the next SMS is suppressed.
 * PUBLIC_URL is a name Herald does not listen on, as behind a proxy: the local Twilio signs that URL
 * and delivers to the app's real address.
 */
import { ProjectionRunner } from '../../projection-runner/projection-runner';
import { EVENT_STORE, type EventStore } from '../../event-store/event-store.port';
import { TestClock } from '../../shared/clock';
import { adminGet, adminSend, eventually, post, startTestApp, type TestApp } from '../../test-support/herald-test-app';
import { FakeTwilioServer } from './fake-twilio-server.fixture';
import { PHONE_INDEX } from './phone-index.projection';

const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';
const AUTH_TOKEN = 'e2e-auth-token';
const FROM = '+15005550006';
const PUBLIC_URL = 'https://herald.example.test';
const ADA_PHONE = '+4915112345678';

let fake: FakeTwilioServer;
let herald: TestApp;

beforeEach(async () => {
  fake = await new FakeTwilioServer({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, autoStatuses: ['sent', 'delivered'] }).start();
  herald = await startTestApp({
    clock: new TestClock(new Date('2026-03-02T10:00:00Z')),
    env: {
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_FROM: FROM,
      TWILIO_API_URL: fake.url,
      PUBLIC_URL,
      DISPATCH_RETRY_BASE_MS: '10',
    },
  });
  fake.route(PUBLIC_URL, herald.url);
});
afterEach(async () => {
  await fake.stop();
  await herald.destroy();
});

type Logged = { type: string; data: Record<string, any> };
const history = async (): Promise<Logged[]> => (await adminGet(`${herald.url}/api/users/ada/events`)).body.events;
const ofType = async (type: string) => (await history()).filter((e) => e.type === type);

describe('SMS through Twilio, end to end', () => {
  it('sends the rendered SMS, records the signed delivered callback, refuses a forged one, and stops after STOP', async () => {
    expect(
      (await adminSend('PUT', `${herald.url}/api/templates/twilio-e2e`, { format: 'liquid', channel: 'sms', body: 'Hi {{ user.first_name }}, your code is {{ event.code }}' }))
        .status,
    ).toBeLessThan(300);
    const scenario = {
      id: 'sms-code',
      name: 'SMS code',
      trigger: { event: 'Code Requested' },
      entry: { reenter: 'always' },
      steps: [{ id: 'text', send: { channel: 'sms', template: 'twilio-e2e' } }],
    };
    expect((await adminSend('POST', `${herald.url}/api/scenarios`, scenario)).status).toBe(201);
    expect((await post(`${herald.url}/v1/identify`, { userId: 'ada', traits: { first_name: 'Ada', phone: ADA_PHONE } })).status).toBe(200);

    expect((await post(`${herald.url}/v1/track`, { userId: 'ada', event: 'Code Requested', properties: { code: '1234' } })).status).toBe(200);
    const [sms] = await eventually(async () => fake.messages.length === 1 && fake.messages);
    expect(sms).toMatchObject({ to: ADA_PHONE, from: FROM, body: 'Hi Ada, your code is 1234', username: ACCOUNT_SID, password: AUTH_TOKEN });
    expect(sms.statusCallback?.startsWith(`${PUBLIC_URL}/webhooks/twilio/status?`)).toBe(true);
    const [delivered] = await eventually(async () => {
      const found = await ofType('MessageDelivered');
      return found.length === 1 && found;
    });
    expect(delivered.data).toMatchObject({ channel: 'sms', provider: 'twilio', providerMessageId: sms.sid });
    expect((await ofType('MessageSent'))[0].data).toMatchObject({ messageId: delivered.data.messageId, providerMessageId: sms.sid });

    expect((await fake.sendStatus(sms.sid, 'failed', { signature: 'Zm9yZ2Vk' })).status).toBe(401);
    expect((await fake.sendStatus(sms.sid, 'delivered')).status).toBe(200);
    expect(await ofType('MessageFailed')).toEqual([]);
    expect(await ofType('MessageDelivered')).toHaveLength(1);

    // The phone index has seen the identify before Ada texts STOP.
    const store = herald.app.get<EventStore>(EVENT_STORE);
    const head = await store.headPosition();
    await eventually(async () => herald.app.get(ProjectionRunner).checkpoint(PHONE_INDEX) >= head);
    const stop = await fake.sendInbound(`${PUBLIC_URL}/webhooks/twilio/inbound`, { from: ADA_PHONE, to: FROM, body: 'STOP' });
    expect(stop.status).toBe(200);
    expect(await stop.text()).toContain('<Response/>');
    expect((await ofType('Unsubscribed')).map((e) => e.data)).toEqual([expect.objectContaining({ channel: 'sms', source: 'twilio-stop' })]);

    await post(`${herald.url}/v1/track`, { userId: 'ada', event: 'Code Requested', properties: { code: '5678' } });
    await eventually(async () => (await ofType('MessageSuppressed')).some((e) => e.data.reason === 'unsubscribed'));
    expect(fake.messages).toHaveLength(1);
  });
});
