/**
 * The example scenarios of examples/scenarios/, end to end: each file is published verbatim as YAML
 * through the API, events are sent over HTTP, the test clock moves through simulated days, and the
 * messages queued, deferred and suppressed on the users' streams are checked exactly (channel,
 * template, variant, time). The abandoned cart has its own test in scenarios.e2e.spec.ts.
 *
 * The background timer pollers are stopped: the test fires due timers itself after every move of
 * the clock and waits until every projection has caught up with the log, so what happens at a
 * simulated moment never depends on real-time scheduling.
 */
import { gbHash, userStream } from '@herald/projections';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_STORE, type EventStore } from '../event-store/event-store.port';
import { SegmentTimers } from '../segments/segment-timers';
import { TestClock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';
import { adminGet, adminSend, eventually, post, passTimersTo, settleProjections, startTestApp, TEST_ADMIN_TOKEN, type TestApp } from '../test-support/herald-test-app';
import { ScenarioTimers } from './scenario-timers';

const examples = join(__dirname, '../../../examples');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Monday 2 March 2026, 10:00 in Amsterdam (UTC+1 until 29 March). */
const MONDAY = new Date('2026-03-02T09:00:00Z');

let herald: TestApp;
let clock: TestClock;
beforeEach(async () => {
  clock = new TestClock(MONDAY);
  herald = await startTestApp({ clock });
  await herald.app.get(ScenarioTimers).stop();
  await herald.app.get(SegmentTimers).stop();
});
afterEach(() => herald.destroy());

type Logged = { id: string; type: string; data: Record<string, any>; metadata: Record<string, any> };

const history = async (userId: string): Promise<Logged[]> => (await adminGet(`${herald.url}/api/users/${encodeURIComponent(userId)}/events`)).body.events;
const ofType = async (userId: string, type: string) => (await history(userId)).filter((e) => e.type === type);
const identify = (userId: string, traits: Record<string, unknown>) => post(`${herald.url}/v1/identify`, { userId, traits });
const track = (userId: string, event: string, properties: Record<string, unknown> = {}) =>
  post(`${herald.url}/v1/track`, { userId, event, properties }).then((response) => expect(response.status).toBeLessThan(300));
const publishScenario = async (name: string) => {
  const yaml = readFileSync(join(examples, `scenarios/${name}.yaml`), 'utf8');
  expect(await adminSend('POST', `${herald.url}/api/scenarios`, yaml, 'application/yaml')).toEqual({ status: 201, body: { id: name, version: 1 } });
};
const publishSegment = async (name: string) => {
  const yaml = readFileSync(join(examples, `segments/${name}.yaml`), 'utf8');
  expect(await adminSend('POST', `${herald.url}/api/segments`, yaml, 'application/yaml')).toEqual({ status: 201, body: { id: name, version: 1 } });
};
/** examples/settings/messaging.yaml: any channel 3 per 7d, SMS 1 per 1d, quiet 21:00-08:00, Europe/Amsterdam. */
const applyMessagingSettings = async () => {
  const yaml = readFileSync(join(examples, 'settings/messaging.yaml'), 'utf8');
  expect((await adminSend('PUT', `${herald.url}/api/settings/messaging`, yaml, 'application/yaml')).status).toBe(200);
};
/** Appends an `Unsubscribed` event to the user's stream, as the preference centre will. */
const unsubscribe = async (userId: string, channel: string) => {
  const now = clock.now().toISOString();
  await herald.app.get<EventStore>(EVENT_STORE).append(userStream('default', userId), [
    { id: uuidv7(), type: 'Unsubscribed', data: { channel }, metadata: { workspace: 'default', occurredAt: now, receivedAt: now, schemaVersion: 1 } },
  ]);
};
const triggerApi = (scenario: string, key: string, body: unknown) =>
  fetch(`${herald.url}/api/scenarios/${scenario}/trigger`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

/** Waits until every projection has handled every event in the log (and appended nothing more meanwhile). */
function settle(): Promise<void> {
  return settleProjections(herald);
}
/** Moves the test clock to `to` and fires every scenario and segment timer due by then, until none is left. */
async function passTo(to: string) {
  expect(Date.parse(to)).toBeGreaterThanOrEqual(clock.now().getTime());
  await passTimersTo(herald, clock, new Date(to), [herald.app.get(ScenarioTimers), herald.app.get(SegmentTimers)]);
}
/** Every message decision on the user's stream, in log order, in a compact form. */
async function messages(userId: string): Promise<Array<Record<string, string>>> {
  await settle();
  return (await history(userId))
    .filter((e) => ['MessageQueued', 'MessageSuppressed', 'MessageDeferred'].includes(e.type))
    .map((e) => {
      const d = e.data;
      const base = { at: e.metadata.occurredAt, scenario: d.scenarioId, step: d.stepId, channel: d.channel };
      if (e.type === 'MessageQueued') return { ...base, queued: d.template, ...(d.variant !== undefined && { variant: d.variant }) };
      if (e.type === 'MessageDeferred') return { ...base, deferred: d.reason, until: d.until };
      return { ...base, suppressed: d.reason, ...(d.variant !== undefined && { variant: d.variant }) };
    });
}
const exits = async (userId: string) => (await ofType(userId, 'EnrollmentExited')).map((e) => [e.data.enrollmentId.split('/')[0], e.data.reason]);
/** A user id whose bucket for `seed` lies in [from, to). */
function userInBucket(seed: string, prefix: string, from: number, to: number): string {
  for (let i = 0; ; i++) {
    const bucket = gbHash(seed, `${prefix}${i}`, 2)!;
    if (bucket >= from && bucket < to) return `${prefix}${i}`;
  }
}

describe('the example scenarios, end to end over HTTP', () => {
  it('welcome series: at sign-up (deferred out of quiet hours in the user’s timezone), 2 days later, then the next weekday 10:00 local; once per user; unsubscribed users are skipped', async () => {
    await applyMessagingSettings();
    await publishScenario('welcome-series');

    // Thursday 5 March, 10:00 UTC = 11:00 in Amsterdam (the workspace zone): not quiet.
    await passTo('2026-03-05T10:00:00Z');
    await identify('lena', { first_name: 'Lena' });
    await track('lena', 'Signed Up');
    await track('otto', 'Signed Up');
    await settle();
    await unsubscribe('otto', 'email');

    // 13:30 UTC is 22:30 in Tokyo: Kenji's own quiet hours.
    await passTo('2026-03-05T13:30:00Z');
    await identify('kenji', { first_name: 'Kenji', timezone: 'Asia/Tokyo' });
    await track('kenji', 'Signed Up');
    await track('lena', 'Signed Up'); // reenter: once
    expect(await messages('kenji')).toEqual([
      { at: '2026-03-05T13:30:00.000Z', scenario: 'welcome-series', step: 'welcome', channel: 'email', deferred: 'quiet_hours', until: '2026-03-05T23:00:00.000Z' },
    ]);
    expect((await ofType('kenji', 'MessageDeferred'))[0].data.timezone).toBe('Asia/Tokyo');

    // 08:00 in Tokyo: the deferred welcome goes out, then 2 days (Sunday 08:00 Tokyo), then Monday 10:00 Tokyo.
    await passTo('2026-03-05T23:00:00Z');
    await passTo('2026-03-16T00:00:00Z');
    const welcome = (template: string, step: string, time: string) => ({ at: time, scenario: 'welcome-series', step, channel: 'email', queued: template });
    expect(await messages('kenji')).toEqual([
      { at: '2026-03-05T13:30:00.000Z', scenario: 'welcome-series', step: 'welcome', channel: 'email', deferred: 'quiet_hours', until: '2026-03-05T23:00:00.000Z' },
      welcome('welcome-1', 'welcome', '2026-03-05T23:00:00.000Z'),
      welcome('welcome-2', 'getting-started', '2026-03-07T23:00:00.000Z'),
      welcome('welcome-3', 'tips', '2026-03-09T01:00:00.000Z'), // Monday 9 March, 10:00 in Tokyo (Sunday skipped)
    ]);
    const kenjiQueued = await ofType('kenji', 'MessageQueued');
    // The deferred message is the one that went out at 08:00, not a second one.
    expect(kenjiQueued[0].data.messageId).toBe((await ofType('kenji', 'MessageDeferred'))[0].data.messageId);
    expect(kenjiQueued[0].data.variables.user).toMatchObject({ first_name: 'Kenji' });
    expect(kenjiQueued[0].data.checks).toMatchObject({ subscribed: true, quietHours: 'outside', timezone: 'Asia/Tokyo' });

    // Lena (no timezone trait): Amsterdam. Thursday 10:00 UTC, Saturday 10:00 UTC, Monday 10:00 Amsterdam = 09:00 UTC.
    expect(await messages('lena')).toEqual([
      welcome('welcome-1', 'welcome', '2026-03-05T10:00:00.000Z'),
      welcome('welcome-2', 'getting-started', '2026-03-07T10:00:00.000Z'),
      welcome('welcome-3', 'tips', '2026-03-09T09:00:00.000Z'),
    ]);
    expect(await ofType('lena', 'EnrollmentStarted')).toHaveLength(1);
    const waitUntil = (await ofType('lena', 'TimerScheduled')).find((e) => e.data.stepId === 'weekday-morning')!;
    expect(waitUntil.data).toMatchObject({ purpose: 'waitUntil', dueAt: '2026-03-09T09:00:00.000Z' });

    // Otto unsubscribed from email after the first one.
    expect(await messages('otto')).toEqual([
      welcome('welcome-1', 'welcome', '2026-03-05T10:00:00.000Z'),
      { at: '2026-03-07T10:00:00.000Z', scenario: 'welcome-series', step: 'getting-started', channel: 'email', suppressed: 'unsubscribed' },
      { at: '2026-03-09T09:00:00.000Z', scenario: 'welcome-series', step: 'tips', channel: 'email', suppressed: 'unsubscribed' },
    ]);
    for (const user of ['kenji', 'lena', 'otto']) expect(await exits(user)).toEqual([['welcome-series', 'completed']]);
  });

  it('onboarding: a day after sign-up, invited users and users with a project get tips; the others a nudge, then tips on a project or a push after 3 days; account deletion exits', async () => {
    await publishScenario('onboarding');
    for (const user of ['ivy', 'pat', 'nia', 'ned', 'del']) await track(user, 'Signed Up', user === 'ivy' ? { invited_by: 'ada' } : {});
    await passTo('2026-03-02T12:00:00Z');
    await track('del', 'Account Deleted');
    await passTo('2026-03-02T15:00:00Z');
    await track('pat', 'Project Created');

    await passTo('2026-03-03T09:00:00Z'); // the day has passed: the branch
    await passTo('2026-03-04T12:00:00Z');
    await track('nia', 'Project Created'); // during the 3-day wait after the nudge
    await passTo('2026-03-20T00:00:00Z');

    const msg = (at: string, step: string, channel: string, template: string) => ({ at, scenario: 'onboarding', step, channel, queued: template });
    expect(await messages('ivy')).toEqual([msg('2026-03-03T09:00:00.000Z', 'tips', 'email', 'onboarding-tips')]);
    expect(await messages('pat')).toEqual([msg('2026-03-03T09:00:00.000Z', 'tips', 'email', 'onboarding-tips')]);
    expect(await messages('nia')).toEqual([
      msg('2026-03-03T09:00:00.000Z', 'nudge', 'email', 'onboarding-nudge'),
      msg('2026-03-04T12:00:00.000Z', 'tips', 'email', 'onboarding-tips'),
    ]);
    expect(await messages('ned')).toEqual([
      msg('2026-03-03T09:00:00.000Z', 'nudge', 'email', 'onboarding-nudge'),
      msg('2026-03-06T09:00:00.000Z', 'push-reminder', 'push', 'onboarding-push'),
    ]);
    expect(await messages('del')).toEqual([]);

    const outcome = async (user: string, step: string) => (await ofType(user, 'StepCompleted')).filter((e) => e.data.stepId === step).map((e) => e.data.outcome);
    expect(await outcome('ivy', 'has-project')).toEqual(['tips']);
    expect(await outcome('pat', 'has-project')).toEqual(['tips']);
    expect(await outcome('nia', 'has-project')).toEqual(['nudge']);
    expect(await outcome('nia', 'wait-project')).toEqual(['event']);
    expect(await outcome('ned', 'wait-project')).toEqual(['timeout']);
    for (const user of ['ivy', 'pat', 'nia', 'ned']) expect(await exits(user)).toEqual([['onboarding', 'exit_step']]);
    expect(await exits('del')).toEqual([['onboarding', 'exit_on']]);
    // The goal: a project within 7 days of sign-up.
    expect((await ofType('pat', 'GoalReached')).map((e) => e.metadata.occurredAt)).toEqual(['2026-03-02T15:00:00.000Z']);
    expect((await ofType('nia', 'GoalReached')).map((e) => e.metadata.occurredAt)).toEqual(['2026-03-04T12:00:00.000Z']);
    expect(await ofType('ned', 'GoalReached')).toEqual([]);
  });

  it('back in stock: a push per real restock, an email a day later unless that product was added to the cart; the 3-per-7-days cap suppresses the rest', async () => {
    await applyMessagingSettings();
    await publishScenario('back-in-stock');
    // Monday 09:00 UTC (10:00 Amsterdam).
    await track('sam', 'Product Back In Stock', { product_id: 'p0', name: 'Ghost Sneaker', quantity: 0 }); // a correction, not a restock
    await track('sam', 'Product Back In Stock', { product_id: 'p1', name: 'Trail Shoe', quantity: 5 });
    await track('sam', 'Product Back In Stock', { product_id: 'p2', name: 'Rain Jacket', quantity: 3 });
    await passTo('2026-03-02T12:00:00Z');
    await track('sam', 'Product Added', { product_id: 'p9' }); // another product: p1 and p2 still wait
    await track('sam', 'Product Added', { product_id: 'p1' });
    await settle();
    expect((await ofType('sam', 'StepCompleted')).filter((e) => e.data.stepId === 'wait-cart').map((e) => [e.data.enrollmentId, e.data.outcome])).toEqual([
      [expect.any(String), 'event'],
    ]);

    await passTo('2026-03-03T09:00:00Z'); // p2: a day without it in the cart
    await passTo('2026-03-03T10:00:00Z');
    await track('sam', 'Product Back In Stock', { product_id: 'p3', name: 'Sun Hat', quantity: 2 });
    await passTo('2026-03-03T12:00:00Z');
    await track('sam', 'Order Completed', { order_id: 'o1' });
    await passTo('2026-03-10T00:00:00Z');

    const base = { scenario: 'back-in-stock', step: 'push', channel: 'push' };
    expect(await messages('sam')).toEqual([
      { ...base, at: '2026-03-02T09:00:00.000Z', queued: 'back-in-stock-push' },
      { ...base, at: '2026-03-02T09:00:00.000Z', queued: 'back-in-stock-push' },
      { at: '2026-03-03T09:00:00.000Z', scenario: 'back-in-stock', step: 'email', channel: 'email', queued: 'back-in-stock-email' },
      { ...base, at: '2026-03-03T10:00:00.000Z', suppressed: 'frequency_cap' },
      { at: '2026-03-04T10:00:00.000Z', scenario: 'back-in-stock', step: 'email', channel: 'email', suppressed: 'frequency_cap' },
    ]);
    const productOf = (e: Logged) => e.data.variables.trigger.product_id;
    const queued = await ofType('sam', 'MessageQueued');
    expect(queued.map(productOf)).toEqual(['p1', 'p2', 'p2']);
    expect(queued[0].data.variables.trigger).toMatchObject({ name: 'Trail Shoe' });
    const suppressed = await ofType('sam', 'MessageSuppressed');
    expect(suppressed.map((e) => e.data.messageId.split('/')[0])).toEqual(['back-in-stock', 'back-in-stock']);
    // The first push leaves the 7-day window on Monday 9 March, 09:00 UTC.
    expect(suppressed[0].data).toMatchObject({ rule: { channel: 'any', max: 3, per: '7d' }, nextAllowedAt: '2026-03-09T09:00:00.000Z' });
    // Three restocks enrolled, side by side; the one of quantity 0 did not.
    const started = await ofType('sam', 'EnrollmentStarted');
    expect(started.map((e) => e.data.trigger.properties.product_id)).toEqual(['p1', 'p2', 'p3']);
    expect(await exits('sam')).toEqual([
      ['back-in-stock', 'exit_step'],
      ['back-in-stock', 'exit_step'],
      ['back-in-stock', 'exit_step'],
    ]);
    // The order counts as the goal of every restock enrolment started in the 3 days before it.
    expect((await ofType('sam', 'GoalReached')).map((e) => e.data.enrollmentId).sort()).toEqual(started.map((e) => e.data.enrollmentId).sort());
  });

  it('reactivation: 14 days without an app open enters inactive-14d and the win-back test (20% holdout, plain vs offer by hash), then a push 3 days later; opening the app exits', async () => {
    await publishSegment('inactive-14d');
    await publishScenario('reactivation');
    const seed = 'reactivation:win-back';
    const held = userInBucket(seed, 'held-', 0.02, 0.18);
    const plain = userInBucket(seed, 'plain-', 0.22, 0.58);
    const offer = userInBucket(seed, 'offer-', 0.62, 0.98);
    const back = userInBucket(seed, 'back-', 0.62, 0.98);
    for (const user of [held, plain, offer, back]) await track(user, 'Application Opened');
    await passTo('2026-03-09T09:00:00Z');
    await track(back, 'Application Opened'); // still active: enters a week later than the others

    // Not yet: 14 days minus a minute.
    await passTo('2026-03-16T08:59:00Z');
    expect(await ofType(held, 'SegmentEntered')).toEqual([]);
    await passTo('2026-03-16T09:00:00Z');
    for (const user of [held, plain, offer]) {
      const [entered] = await ofType(user, 'SegmentEntered');
      expect(entered).toMatchObject({ data: { segmentId: 'inactive-14d' }, metadata: { occurredAt: '2026-03-16T09:00:00.000Z' } });
      expect((await ofType(user, 'EnrollmentStarted')).map((e) => e.data.trigger)).toEqual([
        expect.objectContaining({ type: 'SegmentEntered', eventId: entered.id }),
      ]);
    }
    const assigned = async (user: string) => (await ofType(user, 'VariantAssigned')).map((e) => e.data);
    expect(await assigned(held)).toEqual([expect.objectContaining({ stepId: 'win-back', variant: 'holdout', seed, hashVersion: 2, bucket: gbHash(seed, held, 2) })]);
    expect(await assigned(plain)).toEqual([expect.objectContaining({ variant: 'plain', bucket: gbHash(seed, plain, 2) })]);
    expect(await assigned(offer)).toEqual([expect.objectContaining({ variant: 'offer', bucket: gbHash(seed, offer, 2) })]);

    // The plain user comes back the next day: the enrolment ends, and it counts as a conversion.
    await passTo('2026-03-17T09:00:00Z');
    await track(plain, 'Application Opened');
    await passTo('2026-03-24T00:00:00Z');

    const winBack = { at: '2026-03-16T09:00:00.000Z', scenario: 'reactivation', step: 'win-back', channel: 'email' };
    const lastCall = { at: '2026-03-19T09:00:00.000Z', scenario: 'reactivation', step: 'last-call', channel: 'push', queued: 'winback-push' };
    // The holdout is per step (docs/scenarios.md): no win-back email, but the last-call push has none.
    expect(await messages(held)).toEqual([{ ...winBack, suppressed: 'holdout', variant: 'holdout' }, lastCall]);
    expect(await messages(plain)).toEqual([{ ...winBack, queued: 'winback-plain', variant: 'plain' }]);
    expect(await messages(offer)).toEqual([{ ...winBack, queued: 'winback-offer', variant: 'offer' }, lastCall]);
    expect(await exits(held)).toEqual([['reactivation', 'completed']]);
    expect(await exits(offer)).toEqual([['reactivation', 'completed']]);
    expect(await exits(plain)).toEqual([['reactivation', 'exit_on']]);
    expect((await ofType(plain, 'GoalReached')).map((e) => e.data)).toEqual([expect.objectContaining({ afterMs: DAY, variants: { 'win-back': 'plain' } })]);
    expect(await ofType(plain, 'SegmentExited')).toHaveLength(1);

    // The user who was active a week later enters a week later (on Monday 23 March, 09:00, which the clock jumped over:
    // the segment timer fires late, at 24 March 00:00, and the segment is entered at its due time). The enrolment is
    // decided at that same moment, as the engine's own late timers are: not at whatever time the timer happened to fire.
    // Same hashed variant as any enrolment of this user.
    expect((await ofType(back, 'SegmentEntered')).map((e) => e.metadata.occurredAt)).toEqual(['2026-03-23T09:00:00.000Z']);
    expect(await messages(back)).toEqual([{ ...winBack, at: '2026-03-23T09:00:00.000Z', queued: 'winback-offer', variant: 'offer' }]);

    // 14 days after coming back, the plain user is inactive again, but one win-back a month: no second enrolment.
    await passTo('2026-03-31T09:00:00Z');
    expect((await ofType(plain, 'SegmentEntered')).map((e) => e.metadata.occurredAt)).toEqual(['2026-03-16T09:00:00.000Z', '2026-03-31T09:00:00.000Z']);
    expect(await ofType(plain, 'EnrollmentStarted')).toHaveLength(1);
    expect(await messages(plain)).toHaveLength(1);
  });

  it('post-purchase: a review request 3 days after each order, a thank-you for a review of that order, a cross-sell when none came in 7 days', async () => {
    await publishScenario('post-purchase');
    await track('olga', 'Order Completed', { order_id: 'o1', total: 80 });
    await passTo('2026-03-03T09:00:00Z');
    await track('olga', 'Order Completed', { order_id: 'o2', total: 25 });
    await passTo('2026-03-06T09:00:00Z'); // both review requests are out
    await passTo('2026-03-06T12:00:00Z');
    await track('olga', 'Review Submitted', { order_id: 'o2', stars: 5 }); // reviews o2, not o1
    await passTo('2026-03-07T12:00:00Z');
    await track('olga', 'Review Submitted', { stars: 4 }); // no order_id: matches no order
    await passTo('2026-03-20T00:00:00Z');

    const msg = (at: string, step: string, template: string) => ({ at, scenario: 'post-purchase', step, channel: 'email', queued: template });
    expect(await messages('olga')).toEqual([
      msg('2026-03-05T09:00:00.000Z', 'review-request', 'review-request'),
      msg('2026-03-06T09:00:00.000Z', 'review-request', 'review-request'),
      msg('2026-03-06T12:00:00.000Z', 'thank-you', 'review-thanks'),
      msg('2026-03-12T09:00:00.000Z', 'cross-sell', 'cross-sell'), // o1: 7 days after its review request
    ]);
    expect((await ofType('olga', 'MessageQueued')).map((e) => e.data.variables.trigger.order_id)).toEqual(['o1', 'o2', 'o2', 'o1']);
    const waited = (await ofType('olga', 'StepCompleted')).filter((e) => e.data.stepId === 'wait-review');
    expect(waited.map((e) => e.data.outcome)).toEqual(['event', 'timeout']);
    expect(await exits('olga')).toEqual([
      ['post-purchase', 'exit_step'],
      ['post-purchase', 'exit_step'],
    ]);
    // The goal has no matchTrigger: the review of o2 is a conversion for both enrolments (docs/scenarios.md, goal).
    expect((await ofType('olga', 'GoalReached')).map((e) => e.metadata.occurredAt)).toEqual(['2026-03-06T12:00:00.000Z', '2026-03-06T12:00:00.000Z']);
  });

  it('service notification: triggered through the API with an Idempotency-Key, sent at once to a capped, unsubscribed user at night (transactional)', async () => {
    await applyMessagingSettings();
    await publishScenario('back-in-stock');
    await publishScenario('service-notification');
    // Three marketing pushes fill the cap of 3 per 7 days; a fourth is suppressed.
    for (const product of ['p1', 'p2', 'p3', 'p4']) await track('tess', 'Product Back In Stock', { product_id: product, name: product, quantity: 1 });
    await settle();
    expect((await messages('tess')).map((m) => m.queued ?? m.suppressed)).toEqual([
      'back-in-stock-push',
      'back-in-stock-push',
      'back-in-stock-push',
      'frequency_cap',
    ]);

    const alert = { userId: 'tess', properties: { subject: 'New sign-in from Firefox' } };
    const first = await triggerApi('service-notification', 'signin-1', alert);
    expect(first.status).toBe(202);
    expect(first.body.decisions.map((d: { type: string }) => d.type)).toEqual(['EnrollmentStarted', 'MessageQueued', 'StepCompleted', 'EnrollmentExited']);
    expect(first.body.decisions[1]).toMatchObject({
      channel: 'email',
      template: 'service-notification',
      transactional: true,
      variables: { trigger: { subject: 'New sign-in from Firefox' } },
      checks: { caps: [], quietHours: 'exempt' },
    });

    // Unsubscribed from (marketing) email, and at 22:30 in Amsterdam: a service message still goes out, at once.
    await unsubscribe('tess', 'email');
    await passTo('2026-03-02T21:30:00Z');
    const second = await triggerApi('service-notification', 'signin-2', { ...alert, properties: { subject: 'Password changed' } });
    expect(second.status).toBe(202);
    // A retry with the same key enrols nobody again and answers as the first time.
    const retried = await triggerApi('service-notification', 'signin-2', { ...alert, properties: { subject: 'Password changed' } });
    expect(retried.body).toEqual(second.body);
    expect((await triggerApi('service-notification', '', alert)).status).toBe(400);

    const service = (at: string) => ({ at, scenario: 'service-notification', step: 'notify', channel: 'email', queued: 'service-notification' });
    expect((await messages('tess')).filter((m) => m.scenario === 'service-notification')).toEqual([
      service('2026-03-02T09:00:00.000Z'),
      service('2026-03-02T21:30:00.000Z'),
    ]);
    expect(await ofType('tess', 'MessageDeferred')).toEqual([]);
    expect(await ofType('tess', 'EnrollmentStarted').then((e) => e.filter((s) => s.data.scenarioId === 'service-notification'))).toHaveLength(2);
    // Transactional messages do not count against the caps either.
    const caps = (await adminGet(`${herald.url}/api/users/tess`)).body.frequencyCaps;
    expect(caps[0]).toMatchObject({ channel: 'any', used: 3, max: 3 });
    // The emails went out through the sandbox (no SMTP configured); the pushes could not, as tess
    // has no browser push subscription (web push is on by default).
    await eventually(async () => (await ofType('tess', 'MessageSent')).length === 2 && (await ofType('tess', 'MessageFailed')).length === 3);
    expect((await ofType('tess', 'MessageSent')).map((e) => [e.data.channel, e.data.provider])).toEqual([
      ['email', 'sandbox'],
      ['email', 'sandbox'],
    ]);
    expect(new Set((await ofType('tess', 'MessageFailed')).map((e) => `${e.data.channel}:${e.data.reason}`))).toEqual(new Set(['push:no_address']));
  });
});
