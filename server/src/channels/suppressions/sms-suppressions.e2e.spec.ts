/**
 * The suppression list for SMS through the whole app and the real `twilio` client against a local
 * Twilio: Twilio's answer that the number is invalid (21211 at send time), or a status callback that
 * it is unknown (30005), suppresses that number; a new number is sent to; a switched-off handset
 * (30003) suppresses nothing.
 */
import { TestClock } from '../../shared/clock';
import { adminGet, adminSend, eventually, post, startTestApp, TEST_ADMIN_TOKEN, type TestApp } from '../../test-support/herald-test-app';
import { FakeTwilioServer } from '../twilio/fake-twilio-server.fixture';

const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';
const AUTH_TOKEN = 'e2e-auth-token';
const PUBLIC_URL = 'https://herald.example.test';
const HOUR = 3_600_000;

let fake: FakeTwilioServer;
let herald: TestApp;
let clock: TestClock;

beforeEach(async () => {
  fake = await new FakeTwilioServer({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN }).start();
  clock = new TestClock(new Date('2026-03-02T10:00:00Z'));
  herald = await startTestApp({
    clock,
    env: { TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_FROM: '+15005550006', TWILIO_API_URL: fake.url, PUBLIC_URL },
  });
  fake.route(PUBLIC_URL, herald.url);
  expect((await adminSend('PUT', `${herald.url}/api/templates/code-sms`, { format: 'liquid', channel: 'sms', body: 'Your code is {{ event.code }}' })).status).toBeLessThan(300);
  const scenario = {
    id: 'sms-code',
    name: 'SMS code (API)',
    trigger: { api: true },
    entry: { reenter: 'always', concurrent: true },
    steps: [{ id: 'text', send: { channel: 'sms', template: 'code-sms', transactional: true } }],
  };
  expect((await adminSend('POST', `${herald.url}/api/scenarios`, scenario)).status).toBe(201);
});
afterEach(async () => {
  await fake.stop();
  await herald.destroy();
});

type Logged = { id: string; type: string; data: Record<string, any> };
const events = async (userId: string): Promise<Logged[]> => (await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events;
const FINAL = ['MessageSent', 'MessageBounced', 'MessageFailed', 'MessageSuppressed', 'MessageOutcomeUnknown'];
let keys = 0;

async function sendSms(userId: string): Promise<Logged> {
  clock.advance(HOUR);
  const response = await fetch(`${herald.url}/api/scenarios/sms-code/trigger`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'idempotency-key': `sms-${++keys}` },
    body: JSON.stringify({ userId, properties: { code: String(1000 + keys) } }),
  });
  expect(response.status).toBe(202);
  const queued = (((await response.json()) as { decisions: unknown }).decisions as Array<{ type: string; messageId: string }>).find((d) => d.type === 'MessageQueued')!;
  return eventually(async () => (await events(userId)).find((e) => e.data?.messageId === queued.messageId && FINAL.includes(e.type)));
}

describe('SMS suppression list', () => {
  it("Twilio's 21211 suppresses the number, even for transactional texts; a new number is sent to", async () => {
    await post(`${herald.url}/v1/identify`, { userId: 'ada', traits: { phone: '+4915100000001' } });
    fake.failNext(400, 21211, "Invalid 'To' Phone Number: +4915100000001");
    const failed = await sendSms('ada');
    expect(failed).toMatchObject({ type: 'MessageFailed', data: { reason: 'rejected', code: 'twilio_21211' } });

    const suppressed = await sendSms('ada');
    expect(suppressed).toMatchObject({ type: 'MessageSuppressed', data: { reason: 'bounced_address', stage: 'dispatch', address: '+4915100000001', suppressedBy: failed.id } });
    expect((await adminGet(`${herald.url}/api/users/ada`)).body.suppressions).toEqual([
      expect.objectContaining({ channel: 'sms', address: '+4915100000001', suppressedBy: failed.id, cause: { type: 'MessageFailed', messageId: failed.data.messageId, code: 'twilio_21211' } }),
    ]);
    expect(fake.messages).toHaveLength(0);

    await post(`${herald.url}/v1/identify`, { userId: 'ada', traits: { phone: '+4915100000002' } });
    expect((await sendSms('ada')).type).toBe('MessageSent');
    expect(fake.messages.map((m) => m.to)).toEqual(['+4915100000002']);
  });

  it('a status callback with 30005 (unknown handset) suppresses the number; 30003 (switched off) does not', async () => {
    await post(`${herald.url}/v1/identify`, { userId: 'bo', traits: { phone: '+4915100000003' } });
    expect((await sendSms('bo')).type).toBe('MessageSent');
    expect((await fake.sendStatus(fake.messages[0].sid, 'undelivered', { errorCode: '30003' })).status).toBe(200);
    await eventually(async () => (await events('bo')).some((e) => e.type === 'MessageFailed' && e.data.code === 'twilio_30003'));
    expect((await sendSms('bo')).type).toBe('MessageSent');

    expect((await fake.sendStatus(fake.messages[1].sid, 'failed', { errorCode: '30005' })).status).toBe(200);
    const unknown = await eventually(async () => (await events('bo')).find((e) => e.type === 'MessageFailed' && e.data.code === 'twilio_30005'));
    const next = await sendSms('bo');
    expect(next).toMatchObject({ type: 'MessageSuppressed', data: { reason: 'bounced_address', address: '+4915100000003', suppressedBy: unknown.id } });
    expect(fake.messages).toHaveLength(2);

    const lifted = await adminSend('DELETE', `${herald.url}/api/users/bo/suppressions/sms`);
    expect(lifted.body.lifted).toEqual([{ address: '+4915100000003', suppressedBy: unknown.id }]);
    expect((await sendSms('bo')).type).toBe('MessageSent');
  });
});
