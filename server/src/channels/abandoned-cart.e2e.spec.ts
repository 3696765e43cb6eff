/**
 * The abandoned-cart example with real channels: a checkout over HTTP, one simulated hour later the
 * email arrives at a real SMTP server in the variant the hash chose (nothing for the holdout), and
 * 24 simulated hours later without an order the SMS arrives at a local Twilio through the real
 * `twilio` client; with an order in between, no SMS.
 */
import { gbHash } from '@herald/projections';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScenarioTimers } from '../scenarios/scenario-timers';
import { TestClock } from '../shared/clock';
import { adminGet, adminSend, eventually, post, startTestApp, type TestApp } from '../test-support/herald-test-app';
import { startSmtpServer, type TestSmtpServer } from './email/smtp-server.fixture';
import { FakeTwilioServer } from './twilio/fake-twilio-server.fixture';

const HOUR = 3_600_000;
const ACCOUNT_SID = 'AC00000000000000000000000000000001';
const AUTH_TOKEN = 'cart-auth-token';

let smtp: TestSmtpServer;
let twilio: FakeTwilioServer;
let herald: TestApp;
let clock: TestClock;

beforeEach(async () => {
  smtp = await startSmtpServer();
  twilio = await new FakeTwilioServer({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN }).start();
  clock = new TestClock(new Date('2026-03-02T10:00:00Z'));
  herald = await startTestApp({
    clock,
    env: {
      SMTP_URL: smtp.url,
      EMAIL_FROM: 'Shop <shop@example.test>',
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_FROM: '+15005550006',
      TWILIO_API_URL: twilio.url,
      PUBLIC_URL: 'https://herald.example.test',
    },
  });
  const yaml = readFileSync(join(__dirname, '../../../examples/scenarios/abandoned-cart.yaml'), 'utf8');
  expect((await adminSend('POST', `${herald.url}/api/scenarios`, yaml, 'application/yaml')).status).toBe(201);
});
afterEach(async () => {
  await herald.destroy();
  await twilio.stop();
  await smtp.close();
});

/** The variant the reminder step gives a user: the first 10% of the bucket range is the holdout. */
function variantOf(userId: string): 'holdout' | 'plain' | 'discount' {
  const bucket = gbHash('abandoned-cart:reminder', userId, 2)!;
  return bucket < 0.1 ? 'holdout' : bucket < 0.1 + 0.9 * 0.5 ? 'plain' : 'discount';
}
function userWith(variant: 'holdout' | 'plain' | 'discount', prefix: string): string {
  for (let i = 0; ; i++) if (variantOf(`${prefix}${i}`) === variant) return `${prefix}${i}`;
}
const eventsOf = async (userId: string, type: string) =>
  ((await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events as Array<{ type: string; data: Record<string, any> }>).filter((e) => e.type === type);
async function passTime(ms: number) {
  clock.advance(ms);
  await herald.app.get(ScenarioTimers).fireDue();
}
async function checkout(userId: string, email: string, phone: string) {
  await post(`${herald.url}/v1/identify`, { userId, traits: { email, phone, first_name: userId.replace(/\d+$/, '') } });
  await post(`${herald.url}/v1/track`, { userId, event: 'Checkout Started', properties: { cart_id: `cart-${userId}` } });
  await eventually(async () => (await eventsOf(userId, 'TimerScheduled')).length === 1);
}

describe('abandoned cart with real email and SMS', () => {
  it('emails the hashed variant after 1 h, texts after 24 h without an order, and texts nobody who ordered', async () => {
    const plain = userWith('plain', 'ada');
    const discount = userWith('discount', 'bob');
    const held = userWith('holdout', 'cy');
    await checkout(plain, 'ada@example.test', '+4915100000001');
    await checkout(discount, 'bob@example.test', '+4915100000002');
    await checkout(held, 'cy@example.test', '+4915100000003');

    await passTime(HOUR);
    const mails = await smtp.waitFor(2);
    await eventually(async () => (await eventsOf(held, 'MessageSuppressed')).length === 1);
    const byRecipient = new Map(mails.map((mail) => [mail.to && 'value' in mail.to ? mail.to.value[0].address : '', mail]));
    expect([...byRecipient.keys()].sort()).toEqual(['ada@example.test', 'bob@example.test']);
    // Each got the subject and body of the variant its id hashes to.
    expect(byRecipient.get('ada@example.test')!.subject).toBe(`You left something behind, ${plain.replace(/\d+$/, '')}`);
    expect(byRecipient.get('bob@example.test')!.subject).toBe('10% off what you left in your cart');
    const postHeader = byRecipient.get('bob@example.test')!.headerLines.find((line) => line.key === 'list-unsubscribe-post');
    expect(postHeader?.line).toBe('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    expect((await eventsOf(held, 'MessageSuppressed'))[0].data.reason).toBe('holdout');

    // Bob orders in between; Ada and the held-out user do not.
    await post(`${herald.url}/v1/track`, { userId: discount, event: 'Order Completed', properties: { cart_id: `cart-${discount}` } });
    await eventually(async () => (await eventsOf(discount, 'EnrollmentExited')).length === 1);
    await passTime(24 * HOUR);
    await eventually(async () => twilio.messages.length === 2);
    await twilio.settled();
    expect(twilio.messages.map((sms) => sms.to).sort()).toEqual(['+4915100000001', '+4915100000003']);
    expect(twilio.messages.every((sms) => sms.body.length > 0 && sms.from === '+15005550006')).toBe(true);
    await eventually(async () => (await eventsOf(plain, 'MessageSent')).length === 2);
    expect((await eventsOf(plain, 'MessageSent')).map((e) => e.data.provider)).toEqual(['smtp', 'twilio']);
    expect(smtp.received).toHaveLength(2);
  });

  it('follows a guest who checks out anonymously and then signs in: the order under the user id stops the reminders and reaches the goal', async () => {
    // The reminder's variant is assigned when it is due, after the sign-in: it hashes the user id.
    const [ada, bob, cy] = [userWith('plain', 'ada'), userWith('plain', 'bob'), userWith('plain', 'cy')];
    const guests = [
      { anonymousId: 'guest-a', userId: ada, email: 'ada@example.test', phone: '+4915100000001' },
      { anonymousId: 'guest-b', userId: bob, email: 'bob@example.test', phone: '+4915100000002' },
      { anonymousId: 'guest-c', userId: cy, email: 'cy@example.test', phone: '+4915100000003' },
    ];
    for (const guest of guests) {
      await post(`${herald.url}/v1/track`, { anonymousId: guest.anonymousId, event: 'Checkout Started', properties: { cart_id: `cart-${guest.userId}` } });
      // Signs in at the payment page: the enrolment moves to the user, with its timer.
      await post(`${herald.url}/v1/identify`, {
        userId: guest.userId,
        anonymousId: guest.anonymousId,
        traits: { email: guest.email, phone: guest.phone, first_name: guest.userId.replace(/\d+$/, '') },
      });
      await eventually(async () => (await eventsOf(guest.userId, 'EnrollmentMerged')).length === 1);
      await eventually(async () => (await eventsOf(guest.userId, 'EnrollmentExited')).length === 1);
      const [exited] = await eventsOf(guest.userId, 'EnrollmentExited');
      const [merged] = await eventsOf(guest.userId, 'EnrollmentMerged');
      expect(exited.data).toMatchObject({ enrollmentId: merged.data.enrollmentId, reason: 'merged_into_user' });
      expect(merged.data).toMatchObject({ from: `anon:${guest.anonymousId}`, step: 'wait-1h' });
    }
    // Bob orders before the reminder is due, as himself.
    await post(`${herald.url}/v1/track`, { userId: bob, event: 'Order Completed', properties: { cart_id: `cart-${bob}` } });
    await eventually(async () => (await eventsOf(bob, 'EnrollmentExited')).length === 2);

    await passTime(HOUR);
    const mails = await smtp.waitFor(2);
    expect(mails.map((mail) => (mail.to && 'value' in mail.to ? mail.to.value[0].address : '')).sort()).toEqual(['ada@example.test', 'cy@example.test']);
    expect(mails.map((mail) => mail.subject).sort()).toEqual(['You left something behind, ada', 'You left something behind, cy']);

    // Ada orders after the email, as herself: the waitFor of the moved enrolment sees it.
    await post(`${herald.url}/v1/track`, { userId: ada, event: 'Order Completed', properties: { cart_id: `cart-${ada}` } });
    await eventually(async () => (await eventsOf(ada, 'EnrollmentExited')).length === 2);
    await passTime(24 * HOUR);
    // Only Cy, who never ordered, gets the SMS nudge.
    await eventually(async () => twilio.messages.length === 1);
    await twilio.settled();
    await eventually(async () => (await eventsOf(cy, 'MessageSent')).length === 2);
    expect(twilio.messages.map((sms) => sms.to)).toEqual(['+4915100000003']);
    expect(smtp.received).toHaveLength(2);

    for (const user of [ada, bob]) {
      const [goal] = await eventsOf(user, 'GoalReached');
      const [merged] = await eventsOf(user, 'EnrollmentMerged');
      expect(goal.data).toMatchObject({ enrollmentId: merged.data.enrollmentId, scenarioId: 'abandoned-cart' });
      expect((await eventsOf(user, 'EnrollmentExited')).map((e) => e.data.reason)).toEqual(['merged_into_user', 'exit_on']);
      // One enrolment, started once; the variant assigned once.
      expect(await eventsOf(user, 'EnrollmentStarted')).toHaveLength(1);
    }
    expect((await eventsOf(ada, 'VariantAssigned')).map((e) => e.data.variant)).toEqual(['plain']);
    expect(await eventsOf(bob, 'MessageQueued')).toHaveLength(0);

    // Why did Ada get the email? The chain runs from the anonymous checkout through the move.
    const [email] = await eventsOf(ada, 'MessageQueued');
    const why = await adminGet(`${herald.url}/api/users/${ada}/explain?message=${encodeURIComponent(email.data.messageId)}`);
    expect(why.status).toBe(200);
    expect(why.body).toMatchObject({ status: 'queued', delivery: { state: 'sent' }, scenario: { id: 'abandoned-cart', version: 1 }, variant: { key: 'plain' } });
    expect(why.body.trigger.data.event).toBe('Checkout Started');
    expect(why.body.chain.map((e: { type: string }) => e.type)).toContain('EnrollmentMerged');
  });
});
