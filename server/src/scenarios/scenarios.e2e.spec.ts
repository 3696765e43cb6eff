import { gbHash } from '@herald/projections';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_STORE, type EventStore } from '../event-store/event-store.port';
import { TestClock } from '../shared/clock';
import { adminGet, adminSend, eventually, post, saveTemplates, startTestApp, TEST_ADMIN_TOKEN, type TestApp } from '../test-support/herald-test-app';
import { ScenarioTimers } from './scenario-timers';
import { Broadcasts } from './broadcasts';
import { ScenarioEngine } from './scenario-engine';
import { SegmentQueries } from '../segments/segment-queries';
import { WorkspacesService } from '../workspaces/workspaces.service';
import { LinkSigner } from '../channels/link-signer';
import { createServer, type IncomingMessage } from 'node:http';
import { parse as parseYamlCart } from 'yaml';
import type { AddressInfo } from 'node:net';

const examples = join(__dirname, '../../../examples');
const HOUR = 3_600_000;
const T0 = new Date('2026-03-02T10:00:00Z');

let herald: TestApp;
let clock: TestClock;
beforeEach(async () => {
  clock = new TestClock(T0);
  herald = await startTestApp({ clock, env: { WEBHOOK_RETRY_BASE_MS: '10' } });
});
afterEach(() => herald.destroy());

type Logged = { id: string; type: string; data: Record<string, any>; metadata: Record<string, any> };
const history = async (userId: string): Promise<Logged[]> => (await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events;
const ofType = async (userId: string, type: string) => (await history(userId)).filter((e) => e.type === type);
const track = (userId: string, event: string, properties: Record<string, unknown> = {}) => post(`${herald.url}/v1/track`, { userId, event, properties });
/** Moves the test clock and lets the timers that came due fire. */
async function passTime(ms: number) {
  clock.advance(ms);
  await herald.app.get(ScenarioTimers).fireDue();
}
const publishExample = async (name: string) =>
  adminSend('POST', `${herald.url}/api/scenarios`, readFileSync(join(examples, `scenarios/${name}.yaml`), 'utf8'), 'application/yaml');
/** A user id the hash puts outside the 10% holdout of the reminder. */
function userNotInHoldout(prefix: string): string {
  for (let i = 0; ; i++) if (gbHash('abandoned-cart:reminder', `${prefix}${i}`, 2)! >= 0.1) return `${prefix}${i}`;
}

describe('scenarios over HTTP', () => {
  it('accepts examples/scenarios/abandoned-cart.yaml verbatim, versions re-publishes, and rejects bad definitions with paths', async () => {
    expect(await publishExample('abandoned-cart')).toEqual({ status: 201, body: { id: 'abandoned-cart', version: 1 } });
    expect(await publishExample('abandoned-cart')).toEqual({ status: 200, body: { id: 'abandoned-cart', version: 1 } });
    const list = await adminGet(`${herald.url}/api/scenarios`);
    expect(list.body.scenarios).toEqual([expect.objectContaining({ id: 'abandoned-cart', status: 'active', version: 1 })]);
    const bad = await adminSend('POST', `${herald.url}/api/scenarios`, {
      id: 'bad',
      name: 'Bad',
      trigger: { event: 'X' },
      steps: [{ id: 'a', wait: '7x' }, { id: 'b', exit: true }, { id: 'c', send: { channel: 'email', template: 't' } }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.problems.map((p: { path: string }) => p.path)).toEqual(expect.arrayContaining(['steps[0].wait']));

    // Each publish of a new version is an event on the workspace's scenarios stream; an identical
    // re-publish and a rejected definition append nothing.
    const changed = readFileSync(join(examples, 'scenarios/abandoned-cart.yaml'), 'utf8').replace('within: 72h', 'within: 48h');
    expect((await adminSend('POST', `${herald.url}/api/scenarios`, changed, 'application/yaml')).body).toEqual({ id: 'abandoned-cart', version: 2 });
    const published = (await herald.app.get<EventStore>(EVENT_STORE).readStream('scenarios-default')).map((e) => ({
      type: e.type,
      version: (e.data as { version: number }).version,
      goal: (e.data as { definition: { goal: unknown } }).definition.goal,
    }));
    expect(published).toEqual([
      { type: 'ScenarioPublished', version: 1, goal: { event: 'Order Completed', within: '72h' } },
      { type: 'ScenarioPublished', version: 2, goal: { event: 'Order Completed', within: '48h' } },
    ]);
  });

  it('refuses a definition naming a template or segment the workspace does not have, with their paths, and stores nothing', async () => {
    const head = async () => (await herald.app.get<EventStore>(EVENT_STORE).readStream('scenarios-default')).length;
    const refs = {
      id: 'refs',
      name: 'References',
      trigger: { segment: { entered: 'vips' } },
      steps: [
        { id: 'check', branch: [{ when: { segment: 'lapsed' }, next: 'hello' }], otherwise: 'hello' },
        { id: 'hello', send: { channel: 'email', template: 'cart-plian' } },
      ],
    };
    const refused = await adminSend('POST', `${herald.url}/api/scenarios`, refs);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_definition');
    expect(refused.body.problems).toEqual([
      { path: 'trigger.segment.entered', message: 'segment "vips" does not exist in workspace default; define it first (POST /api/segments)' },
      { path: 'steps[0].branch[0].when.segment', message: 'segment "lapsed" does not exist in workspace default; define it first (POST /api/segments)' },
      { path: 'steps[1].send.template', message: 'template "cart-plian" does not exist in workspace default; save it first (PUT /api/templates/cart-plian)' },
    ]);
    expect(await head()).toBe(0);

    // Once they exist, the same scenario publishes.
    for (const id of ['vips', 'lapsed']) {
      expect((await adminSend('POST', `${herald.url}/api/segments`, { id, name: id, where: { trait: 'vip', op: 'exists' } })).status).toBe(201);
    }
    const fixed = { ...refs, steps: [refs.steps[0], { id: 'hello', send: { channel: 'email', template: 'cart-plain' } }] };
    expect(await adminSend('POST', `${herald.url}/api/scenarios`, fixed)).toEqual({ status: 201, body: { id: 'refs', version: 1 } });
  });

  it('runs the abandoned cart: 1 h later the hashed email variant, 24 h later the SMS; with an order in between, no SMS', async () => {
    await publishExample('abandoned-cart');
    const ada = userNotInHoldout('ada-');
    const bob = userNotInHoldout('bob-');
    await track(ada, 'Checkout Started', { cart_id: 'c1' });
    await track(bob, 'Checkout Started', { cart_id: 'c2' });
    await eventually(async () => (await ofType(ada, 'TimerScheduled')).length === 1 && (await ofType(bob, 'TimerScheduled')).length === 1);
    await passTime(HOUR);
    const [email] = await eventually(async () => {
      const queued = await ofType(ada, 'MessageQueued');
      return queued.length === 1 && queued;
    });
    const expected = gbHash('abandoned-cart:reminder', ada, 2)! < 0.1 + 0.9 * 0.5 ? 'plain' : 'discount';
    expect(email.data).toMatchObject({ channel: 'email', variant: expected, template: `cart-${expected}` });
    await eventually(async () => (await ofType(bob, 'MessageQueued')).length === 1);
    // Bob orders; Ada does not.
    await track(bob, 'Order Completed', { cart_id: 'c2' });
    await eventually(async () => (await ofType(bob, 'EnrollmentExited')).length === 1);
    await eventually(async () => (await ofType(ada, 'TimerScheduled')).length === 2);
    await passTime(24 * HOUR);
    await eventually(async () => (await ofType(ada, 'MessageQueued')).length === 2);
    expect((await ofType(ada, 'MessageQueued')).map((e) => e.data.channel)).toEqual(['email', 'sms']);
    expect((await ofType(bob, 'MessageQueued')).map((e) => e.data.channel)).toEqual(['email']);
    expect((await ofType(bob, 'GoalReached'))).toHaveLength(1);
    // The sandbox channel recorded the sends.
    await eventually(async () => (await ofType(ada, 'MessageSent')).length === 2);

    // Why did Ada get the SMS?
    const sms = (await ofType(ada, 'MessageQueued'))[1];
    const why = await adminGet(`${herald.url}/api/users/${ada}/explain?message=${encodeURIComponent(sms.data.messageId)}`);
    expect(why.status).toBe(200);
    expect(why.body).toMatchObject({ status: 'queued', scenario: { id: 'abandoned-cart', version: 1 } });
    expect(why.body.trigger.data.event).toBe('Checkout Started');
    expect(why.body.steps.map((s: { stepId: string; outcome?: string }) => [s.stepId, s.outcome])).toEqual([
      ['wait-1h', undefined],
      ['reminder', 'queued'],
      ['wait-purchase', 'timeout'],
    ]);
    expect(why.body.outcomes.map((e: Logged) => e.type)).toEqual(['MessageDispatching', 'MessageSent']);
    expect((await adminGet(`${herald.url}/api/users/${ada}/explain?message=nope`)).status).toBe(404);
  });

  it('queues exactly one message when 64 API triggers race against a cap of 1, and replays an Idempotency-Key', async () => {
    await adminSend('PUT', `${herald.url}/api/settings/messaging`, { caps: [{ channel: 'any', max: 1, per: '1d' }] });
    await saveTemplates(herald.url, 'flash-sale');
    expect(
      (
        await adminSend('POST', `${herald.url}/api/scenarios`, {
          id: 'flash-sale',
          name: 'Flash sale (API)',
          trigger: { api: true },
          entry: { reenter: 'always', concurrent: true },
          steps: [{ id: 'announce', send: { channel: 'email', template: 'flash-sale' } }],
        })
      ).status,
    ).toBe(201);
    const trigger = (key: string) =>
      fetch(`${herald.url}/api/scenarios/flash-sale/trigger`, {
        method: 'POST',
        headers: { authorization: 'Bearer adm_test_admin_token', 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ userId: 'racer', properties: { sale: 'friday' } }),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => trigger(`k-${i}`)));
    expect(results.every((r) => r.status === 202)).toBe(true);
    expect(await ofType('racer', 'MessageQueued')).toHaveLength(1);
    const suppressed = await ofType('racer', 'MessageSuppressed');
    expect(suppressed).toHaveLength(63);
    expect(new Set(suppressed.map((e) => e.data.reason))).toEqual(new Set(['frequency_cap']));
    const replay = await trigger('k-5');
    expect(replay.body).toEqual(results[5].body);
    expect(await ofType('racer', 'EnrollmentStarted')).toHaveLength(64);
    const missingKey = await adminSend('POST', `${herald.url}/api/scenarios/flash-sale/trigger`, { userId: 'racer' });
    expect(missingKey.status).toBe(400);
    // A bad body names the field and what is wrong with it.
    const badBody = async (body: unknown) => {
      const response = await fetch(`${herald.url}/api/scenarios/flash-sale/trigger`, {
        method: 'POST',
        headers: { authorization: 'Bearer adm_test_admin_token', 'content-type': 'application/json', 'idempotency-key': 'bad-body' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    };
    expect(await badBody({ userId: '' })).toMatchObject({ status: 400, body: { path: 'userId', message: 'userId must be a non-empty string of at most 1000 characters' } });
    expect(await badBody({ anonymousId: 'a'.repeat(1001) })).toMatchObject({
      status: 400,
      body: { path: 'anonymousId', message: 'anonymousId must be a non-empty string of at most 1000 characters, got 1001 characters' },
    });
  });

  it('holds a cap of 1 when a wait fires late (after a restart) and another message was queued meanwhile', async () => {
    await adminSend('PUT', `${herald.url}/api/settings/messaging`, { caps: [{ channel: 'any', max: 1, per: '1d' }] });
    const publish = (definition: Record<string, unknown>) => adminSend('POST', `${herald.url}/api/scenarios`, definition);
    await publish({ id: 'later', name: 'Later', trigger: { event: 'Checkout Started' }, steps: [{ id: 'wait', wait: '1h' }, { id: 'nudge', send: { channel: 'email', template: 'cart-plain' } }] });
    await publish({ id: 'now', name: 'Now', trigger: { event: 'Signed Up' }, steps: [{ id: 'hello', send: { channel: 'email', template: 'welcome-1' } }] });
    await track('late', 'Checkout Started', { cart_id: 'c1' });
    await eventually(async () => (await ofType('late', 'TimerScheduled')).length === 1);
    // The server is down when the wait is due: the timer fires only after a message of another
    // scenario went out, but decides at its due time, before that message.
    await herald.app.get(ScenarioTimers).stop();
    clock.advance(HOUR + 60_000);
    await track('late', 'Signed Up');
    await eventually(async () => (await ofType('late', 'MessageQueued')).length === 1);
    await herald.app.get(ScenarioTimers).fireDue();
    const [suppressed] = await eventually(async () => {
      const found = await ofType('late', 'MessageSuppressed');
      return found.length === 1 && found;
    });
    expect(suppressed.data).toMatchObject({ scenarioId: 'later', stepId: 'nudge', reason: 'frequency_cap' });
    expect((await ofType('late', 'MessageQueued')).map((e) => e.data.scenarioId)).toEqual(['now']);
  });

  it("is one person after sign-in: the caps count the guest's messages, and a branch sees what the guest did and their traits", async () => {
    await adminSend('PUT', `${herald.url}/api/settings/messaging`, { caps: [{ channel: 'email', max: 1, per: '1d' }] });
    await saveTemplates(herald.url, 'browse-tip', 'tip');
    const send = (id: string) => ({ id, send: { channel: 'email', template: id } });
    const publish = (definition: Record<string, unknown>) => adminSend('POST', `${herald.url}/api/scenarios`, definition);
    const browse = { id: 'browse', name: 'Browse', trigger: { event: 'Product Viewed' }, entry: { reenter: 'always' }, steps: [send('browse-tip')] };
    expect((await publish(browse)).status).toBe(201);
    const welcome = {
      id: 'welcome',
      name: 'Welcome',
      trigger: { event: 'Signed Up' },
      steps: [
        { id: 'wait', wait: '2d' },
        { id: 'shopper', branch: [{ when: { all: [{ performed: 'Product Viewed' }, { trait: 'city', op: 'eq', value: 'Utrecht' }] }, next: 'tip' }], otherwise: 'done' },
        send('tip'),
        { id: 'done', exit: true },
      ],
    };
    expect((await publish(welcome)).status).toBe(201);

    // A guest looks at a product (and is emailed about it), tells their city, then signs up.
    expect((await post(`${herald.url}/v1/track`, { anonymousId: 'guest-9', event: 'Product Viewed' })).status).toBe(200);
    expect((await post(`${herald.url}/v1/identify`, { anonymousId: 'guest-9', traits: { city: 'Utrecht' } })).status).toBe(200);
    await eventually(async () => (await ofType('guest-9', 'MessageQueued')).length === 1);
    clock.advance(HOUR);
    expect((await post(`${herald.url}/v1/identify`, { userId: 'lin', anonymousId: 'guest-9', traits: { plan: 'free' } })).status).toBe(200);
    expect((await track('lin', 'Signed Up')).status).toBe(200);
    await eventually(async () => (await ofType('lin', 'EnrollmentStarted')).some((e) => e.data.scenarioId === 'welcome'));
    const merged = await ofType('lin', 'PersonMerged');
    expect(merged.map((e) => e.data)).toEqual([expect.objectContaining({ from: 'anon:guest-9', capped: [expect.objectContaining({ channel: 'email' })] })]);

    // Within the day, a second email to the person would break the cap of 1: the guest's counts.
    expect((await track('lin', 'Product Viewed')).status).toBe(200);
    const capped = await eventually(async () => {
      const suppressed = await ofType('lin', 'MessageSuppressed');
      return suppressed.length > 0 ? suppressed : undefined;
    });
    expect(capped.map((e) => [e.data.scenarioId, e.data.reason])).toEqual([['browse', 'frequency_cap']]);

    // Two days on, the branch sees the guest's product view and city: the tip goes out.
    await passTime(2 * 24 * HOUR);
    const tip = await eventually(async () => (await ofType('lin', 'MessageQueued')).find((e) => e.data.scenarioId === 'welcome'));
    expect(tip.data.stepId).toBe('tip');
  });

  it('explains a queued message with its variant and verdicts, one suppressed by the cap, and one deferred by quiet hours', async () => {
    await adminSend('PUT', `${herald.url}/api/settings/messaging`, {
      caps: [{ channel: 'any', max: 1, per: '1d' }],
      quietHours: { start: '21:00', end: '08:00' },
      timezone: 'UTC',
    });
    await saveTemplates(herald.url, 'promo-a', 'promo-b');
    const promo = {
      id: 'promo',
      name: 'Promo',
      trigger: { event: 'Promo' },
      entry: { reenter: 'always', concurrent: true },
      steps: [
        {
          id: 'mail',
          send: {
            channel: 'email',
            variants: [
              { key: 'a', weight: 50, template: 'promo-a' },
              { key: 'b', weight: 50, template: 'promo-b' },
            ],
          },
        },
      ],
    };
    expect((await adminSend('POST', `${herald.url}/api/scenarios`, promo)).status).toBe(201);
    const explain = async (userId: string, messageId: string) => {
      const response = await adminGet(`${herald.url}/api/users/${userId}/explain?message=${encodeURIComponent(messageId)}`);
      expect(response.status).toBe(200);
      return response.body;
    };

    // 10:00 UTC: the first goes out, the second is over the cap of one a day.
    await track('pia', 'Promo', { code: 'first' });
    await eventually(async () => (await ofType('pia', 'MessageQueued')).length === 1);
    await track('pia', 'Promo', { code: 'second' });
    const [suppressed] = await eventually(async () => {
      const found = await ofType('pia', 'MessageSuppressed');
      return found.length === 1 && found;
    });
    const [queued] = await ofType('pia', 'MessageQueued');
    const bucket = gbHash('promo:mail', 'pia', 2)!;
    const sent = await explain('pia', queued.data.messageId);
    expect(sent).toMatchObject({
      status: 'queued',
      scenario: { id: 'promo', version: 1 },
      trigger: { type: 'Tracked', data: { event: 'Promo', properties: { code: 'first' } } },
      enrollment: { type: 'EnrollmentStarted' },
      variant: { key: bucket < 0.5 ? 'a' : 'b', bucket, seed: 'promo:mail', hashVersion: 2, source: 'hash' },
      decision: { type: 'MessageQueued', data: { checks: { subscribed: true, caps: [{ rule: { channel: 'any', max: 1, per: '1d' }, used: 0 }], quietHours: 'outside', timezone: 'UTC' } } },
    });
    expect(sent.chain.map((e: Logged) => e.type)).toEqual(expect.arrayContaining(['Tracked', 'EnrollmentStarted', 'VariantAssigned', 'MessageQueued']));
    const capped = await explain('pia', suppressed.data.messageId);
    expect(capped).toMatchObject({
      status: 'suppressed',
      reason: 'frequency_cap',
      trigger: { data: { properties: { code: 'second' } } },
      decision: { type: 'MessageSuppressed', data: { rule: { channel: 'any', max: 1, per: '1d' }, nextAllowedAt: '2026-03-03T10:00:00.000Z' } },
    });

    // 22:00 UTC: quiet hours until 08:00; the message waits and then goes out.
    clock.set(new Date('2026-03-02T22:00:00Z'));
    await track('quinn', 'Promo', { code: 'night' });
    const [deferred] = await eventually(async () => {
      const found = await ofType('quinn', 'MessageDeferred');
      return found.length === 1 && found;
    });
    expect(await explain('quinn', deferred.data.messageId)).toMatchObject({
      status: 'deferred',
      reason: 'quiet_hours',
      decision: { type: 'MessageDeferred', data: { until: '2026-03-03T08:00:00.000Z', timezone: 'UTC' } },
    });
    await passTime(10 * HOUR);
    await eventually(async () => (await ofType('quinn', 'MessageQueued')).length === 1);
    const later = await explain('quinn', deferred.data.messageId);
    expect(later).toMatchObject({ status: 'queued', decision: { type: 'MessageQueued', metadata: { occurredAt: '2026-03-03T08:00:00.000Z' } } });
    expect(later.chain.map((e: Logged) => e.type)).toEqual(expect.arrayContaining(['MessageDeferred', 'TimerScheduled', 'TimerFired', 'MessageQueued']));
  });

  it('answers bodies nested thousands of levels deep with a 400 naming the path: definitions and trigger properties', async () => {
    const deep = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
    const scenario = await adminSend('POST', `${herald.url}/api/scenarios`, `{"id":"deep","name":"Deep","trigger":{"event":"X"},"steps":[${deep(3000)}]}`);
    expect(scenario).toMatchObject({ status: 400, body: { error: 'invalid_definition', problems: [{ path: expect.stringMatching(/^steps\[0\]\.a/) }] } });
    const segment = await adminSend('POST', `${herald.url}/api/segments`, `{"id":"deep","name":"Deep","where":{"all":${'['.repeat(3000)}${']'.repeat(3000)}}}`);
    expect(segment).toMatchObject({ status: 400, body: { problems: [{ path: expect.stringMatching(/^where\.all\[0\]/) }] } });
    await saveTemplates(herald.url, 'receipt');
    await adminSend('POST', `${herald.url}/api/scenarios`, {
      id: 'receipt',
      name: 'Receipt',
      trigger: { api: true },
      steps: [{ id: 'send', send: { channel: 'email', template: 'receipt', transactional: true } }],
    });
    const trigger = await fetch(`${herald.url}/api/scenarios/receipt/trigger`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'idempotency-key': 'deep-1' },
      body: `{"userId":"deep","properties":${deep(5000)}}`,
    });
    expect(trigger.status).toBe(400);
    expect(await trigger.json()).toMatchObject({ path: expect.stringMatching(/^properties(\.a){64}$/) });
    expect(await history('deep')).toEqual([]);
  });

  it('pauses (no new enrolments), resumes and archives', async () => {
    await publishExample('abandoned-cart');
    expect((await adminSend('POST', `${herald.url}/api/scenarios/abandoned-cart/pause`)).body).toEqual({ id: 'abandoned-cart', status: 'paused' });
    await track('paula', 'Checkout Started');
    await track('paula', 'Sync Marker');
    await eventually(async () => (await history('paula')).length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await ofType('paula', 'EnrollmentStarted')).toHaveLength(0);
    await adminSend('POST', `${herald.url}/api/scenarios/abandoned-cart/resume`);
    await track('paula', 'Checkout Started');
    await eventually(async () => (await ofType('paula', 'EnrollmentStarted')).length === 1);
    await adminSend('POST', `${herald.url}/api/scenarios/abandoned-cart/archive`);
    await passTime(HOUR);
    await eventually(async () => (await ofType('paula', 'EnrollmentExited')).length === 1);
    expect((await ofType('paula', 'EnrollmentExited'))[0].data.reason).toBe('archived');
    expect((await adminSend('POST', `${herald.url}/api/scenarios/abandoned-cart/resume`)).status).toBe(409);
  });
});

describe('simulating a draft over HTTP', () => {
  const cart = () => readFileSync(join(examples, 'scenarios/abandoned-cart.yaml'), 'utf8');
  const simulate = (query: string, body: unknown = cart(), contentType = 'application/yaml') =>
    adminSend('POST', `${herald.url}/api/scenarios/simulate${query}`, body, contentType);

  it('runs the draft over the recorded history on its own thread, and appends nothing', async () => {
    // Two checkouts before the draft exists; nothing is published, so the live engine enrols nobody.
    const [ann, ben] = [userNotInHoldout('ann'), userNotInHoldout('ben')];
    await track(ann, 'Checkout Started', { cart_id: 'a1' });
    await track(ben, 'Checkout Started', { cart_id: 'b1' });
    await track(ben, 'Order Completed', { cart_id: 'b1' });
    await eventually(async () => (await history(ben)).length === 2);
    clock.advance(2 * HOUR);
    const store = herald.app.get<EventStore>(EVENT_STORE);
    const head = await store.headPosition();

    const answer = await simulate('?from=2026-03-02');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      scenario: { id: 'abandoned-cart' },
      workspace: 'default',
      from: '2026-03-02T00:00:00.000Z',
      // No `to`: the server's clock.
      to: clock.now().toISOString(),
      history: { events: 3, persons: 2 },
      entries: 2,
      // Ben ordered within the hour: he left before the reminder, and reached the goal.
      goals: { reached: 1 },
      exits: { exit_on: 1 },
    });
    const reminder = answer.body.steps.find((step: { stepId: string }) => step.stepId === 'reminder');
    expect(reminder).toMatchObject({ reached: 1, queued: 1 });
    // JSON works as for publish, and a window before the checkouts enrols nobody.
    const before = await simulate('?from=2026-03-01&to=2026-03-01', JSON.stringify(parseYamlCart(cart())), 'application/json');
    expect(before.body).toMatchObject({ entries: 0, to: '2026-03-01T23:59:59.999Z' });

    expect(await store.headPosition()).toBe(head);
    expect(await ofType(ann, 'MessageQueued')).toHaveLength(0);
  });

  it('answers a missing or unreadable window, an invalid draft, a window backwards and a missing token with 4xx naming the problem', async () => {
    const missing = await simulate('');
    expect(missing).toMatchObject({ status: 400, body: { error: 'bad_request', path: 'from' } });
    expect(missing.body.message).toMatch(/from must be an ISO 8601 date/);
    expect((await simulate('?from=yesterday')).body).toMatchObject({ path: 'from', message: expect.stringContaining('"yesterday"') });
    expect((await simulate('?from=2026-03-01&from=2026-03-02')).body).toMatchObject({ path: 'from', message: expect.stringContaining('more than once') });
    expect((await simulate('?from=2026-03-01&to=soon')).body).toMatchObject({ path: 'to' });
    const backwards = await simulate('?from=2026-03-05&to=2026-03-01');
    expect(backwards).toMatchObject({ status: 400, body: { path: 'from', message: expect.stringContaining('is after to') } });

    const invalid = await simulate('?from=2026-03-01', { id: 'draft', name: 'Draft', trigger: { event: 'X' }, steps: [{ id: 'a', wait: '7x' }] }, 'application/json');
    expect(invalid).toMatchObject({ status: 400, body: { error: 'invalid_definition' } });
    expect(invalid.body.problems.map((p: { path: string }) => p.path)).toContain('steps[0].wait');
    expect((await simulate('?from=2026-03-01', 'id: [unclosed')).status).toBe(400);
    // Only recorded events trigger a simulated draft: a broadcast or an API trigger would find none.
    const broadcast = { id: 'news', name: 'News', trigger: { schedule: { segment: 'pro', every: '1d' } }, steps: [{ id: 'a', wait: '1d' }] };
    expect(await simulate('?from=2026-03-01', broadcast, 'application/json')).toMatchObject({
      status: 400,
      body: { error: 'bad_request', path: 'trigger.schedule', message: expect.stringContaining('a scheduled broadcast cannot be simulated') },
    });
    const receipt = { id: 'receipt', name: 'Receipt', trigger: { api: true }, steps: [{ id: 'a', wait: '1d' }] };
    expect(await simulate('?from=2026-03-01', receipt, 'application/json')).toMatchObject({ status: 400, body: { path: 'trigger.api' } });

    const anonymous = await fetch(`${herald.url}/api/scenarios/simulate?from=2026-03-01`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: cart() });
    expect(anonymous.status).toBe(401);
    expect((await simulate('?from=2026-03-01&workspace=nowhere')).status).toBe(404);
  });
});

describe('webhook steps', () => {
  it('calls the URL with placeholders filled, retries a 5xx, records the outcome, and the enrolment goes on', async () => {
    const received: Array<{ path: string; key: string; body: unknown }> = [];
    let failuresLeft = 1;
    const receiver = createServer((request: IncomingMessage, response) => {
      let text = '';
      request.on('data', (chunk) => (text += chunk));
      request.on('end', () => {
        received.push({ path: request.url ?? '', key: String(request.headers['idempotency-key']), body: JSON.parse(text || 'null') });
        const fail = request.url?.includes('always-fail') || failuresLeft-- > 0;
        response.writeHead(fail ? 503 : 200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    try {
      await saveTemplates(herald.url, 'vip-thanks');
      const published = await adminSend('POST', `${herald.url}/api/scenarios`, {
        id: 'vip',
        name: 'VIP order',
        trigger: { event: 'VIP Order' },
        entry: { reenter: 'always' },
        steps: [
          { id: 'crm', webhook: { url: `${base}/hooks/{{ trigger.region }}`, body: { email: '{{ user.email }}', total: '{{ trigger.total }}' }, retries: 2 } },
          { id: 'broken', webhook: { url: `${base}/always-fail`, retries: 1 } },
          { id: 'thanks', send: { channel: 'email', template: 'vip-thanks' } },
        ],
      });
      expect(published.status).toBe(201);
      await post(`${herald.url}/v1/identify`, { userId: 'vera', traits: { email: 'vera@example.com' } });
      await track('vera', 'VIP Order', { total: 420, region: 'north east' });
      // Each failed attempt schedules the next on a durable timer, due 10 ms later on the test clock.
      await eventually(async () => (await ofType('vera', 'WebhookRetryScheduled')).length === 2);
      clock.advance(10);
      await eventually(async () => (await ofType('vera', 'WebhookFailed')).length === 1 && (await ofType('vera', 'WebhookSucceeded')).length === 1);
      const crmCalls = received.filter((r) => r.path.startsWith('/hooks/'));
      expect(crmCalls).toHaveLength(2);
      expect(crmCalls[0]).toMatchObject({ path: '/hooks/north%20east', body: { email: 'vera@example.com', total: 420 } });
      expect(crmCalls[1].key).toBe(crmCalls[0].key);
      expect((await ofType('vera', 'WebhookSucceeded'))[0].data).toMatchObject({ stepId: 'crm', status: 200, attempts: 2 });
      expect((await ofType('vera', 'WebhookFailed'))[0].data).toMatchObject({ stepId: 'broken', status: 503, attempts: 2 });
      expect((await ofType('vera', 'MessageQueued')).map((e) => e.data.template)).toEqual(['vip-thanks']);
    } finally {
      receiver.close();
    }
  });
});

describe('scheduled broadcasts', () => {
  it('enrols the segment members at a local time in each member zone, once', async () => {
    await adminSend('POST', `${herald.url}/api/segments`, { id: 'pro', name: 'Pro', where: { trait: 'plan', op: 'eq', value: 'pro' } });
    await saveTemplates(herald.url, 'newsletter-march');
    expect(
      (
        await adminSend('POST', `${herald.url}/api/scenarios`, {
          id: 'newsletter',
          name: 'March newsletter',
          trigger: { schedule: { segment: 'pro', at: '2026-03-05', localTime: '09:00' } },
          steps: [{ id: 'send', send: { channel: 'email', template: 'newsletter-march' } }],
        })
      ).status,
    ).toBe(201);
    await post(`${herald.url}/v1/identify`, { userId: 'ams', traits: { plan: 'pro', timezone: 'Europe/Amsterdam' } });
    await post(`${herald.url}/v1/identify`, { userId: 'nyc', traits: { plan: 'pro', timezone: 'America/New_York' } });
    await post(`${herald.url}/v1/identify`, { userId: 'free', traits: { plan: 'free', timezone: 'Europe/Amsterdam' } });
    await eventually(async () => (await adminGet(`${herald.url}/api/segments/pro/members`)).body.total === 2);
    const broadcasts = herald.app.get(Broadcasts);
    clock.set(new Date('2026-03-05T07:59:00Z'));
    expect(await broadcasts.tick()).toBe(0);
    clock.set(new Date('2026-03-05T08:00:00Z')); // 09:00 in Amsterdam
    expect(await broadcasts.tick()).toBe(1);
    expect(await broadcasts.tick()).toBe(0);
    await eventually(async () => (await ofType('ams', 'MessageQueued')).length === 1);
    expect(await ofType('nyc', 'MessageQueued')).toHaveLength(0);
    clock.set(new Date('2026-03-05T14:00:00Z')); // 09:00 in New York
    expect(await broadcasts.tick()).toBe(1);
    await eventually(async () => (await ofType('nyc', 'MessageQueued')).length === 1);
    // A restart forgets what was done; the derived causes still enrol nobody twice.
    const fresh = new Broadcasts(herald.app.get(ScenarioEngine), herald.app.get(SegmentQueries), herald.app.get(WorkspacesService), clock);
    expect(await fresh.tick()).toBe(2);
    expect(await ofType('ams', 'EnrollmentStarted')).toHaveLength(1);
    expect(await ofType('free', 'EnrollmentStarted')).toHaveLength(0);
    const [started] = await ofType('nyc', 'EnrollmentStarted');
    expect(started.data.trigger).toMatchObject({ type: 'ScheduledBroadcast', properties: { occurrence: '2026-03-05', scheduledAt: '2026-03-05T14:00:00.000Z' } });

    // Someone who becomes a member after the occurrence came due is not sent it.
    clock.set(new Date('2026-06-01T10:00:00Z'));
    await post(`${herald.url}/v1/identify`, { userId: 'late', traits: { plan: 'pro', timezone: 'Europe/Amsterdam' } });
    await eventually(async () => (await adminGet(`${herald.url}/api/segments/pro/members`)).body.total === 3);
    expect(await broadcasts.tick()).toBe(0);
    expect(await ofType('late', 'EnrollmentStarted')).toHaveLength(0);
  });
});

describe('subscription topics', () => {
  it('a person leaves a topic on the preference page: its messages are not sent, the rest of the channel still is', async () => {
    for (const [id, topic] of [['digest', 'newsletter'], ['receipt-like', undefined]] as const) {
      const published = await adminSend('POST', `${herald.url}/api/scenarios`, {
        id,
        name: id,
        trigger: { event: 'Ping' },
        steps: [{ id: 'mail', send: { channel: 'email', template: 'welcome-1', ...(topic ? { topic } : {}) } }],
      });
      expect(published.status).toBe(201);
    }
    await post(`${herald.url}/v1/identify`, { userId: 'tom', traits: { email: 'tom@example.test' } });

    // The page every email links to offers the topic of the scenario, ticked; untick it and save.
    const page = `${herald.url}${new URL(herald.app.get(LinkSigner).url('/preferences', { k: 'p', w: 'default', p: 'user:tom' })).pathname}`;
    const form = async () => {
      const html = await (await fetch(page)).text();
      return {
        shown: [...html.matchAll(/name="shown" value="([^"]+)"/g)].map((m) => m[1]),
        ticked: [...html.matchAll(/name="subscribed" value="([^"]+)" checked/g)].map((m) => m[1]),
      };
    };
    const before = await form();
    expect(before.shown).toContain('email:newsletter');
    expect(before.ticked).toContain('email:newsletter');
    const body = new URLSearchParams([
      ...before.shown.map((key): [string, string] => ['shown', key]),
      ...before.ticked.filter((key) => key !== 'email:newsletter').map((key): [string, string] => ['subscribed', key]),
    ]);
    expect((await fetch(page, { method: 'POST', body })).status).toBe(200);
    expect((await ofType('tom', 'Unsubscribed')).map((e) => e.data)).toEqual([{ channel: 'email', topic: 'newsletter', source: 'preferences' }]);
    expect((await form()).ticked).toEqual(before.ticked.filter((key) => key !== 'email:newsletter'));

    await track('tom', 'Ping');
    await eventually(async () => (await ofType('tom', 'MessageSent')).length === 1 && (await ofType('tom', 'MessageSuppressed')).length === 1);
    const [suppressed] = await ofType('tom', 'MessageSuppressed');
    expect(suppressed.data).toMatchObject({ scenarioId: 'digest', reason: 'unsubscribed', stage: 'dispatch' });
    expect((await ofType('tom', 'MessageQueued')).find((e) => e.data.scenarioId === 'digest')!.data.topic).toBe('newsletter');
    expect((await ofType('tom', 'MessageSent'))[0].data.messageId).toMatch(/^receipt-like\//);
  });
});
