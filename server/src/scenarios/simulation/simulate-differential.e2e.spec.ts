/**
 * Differential test of `simulate`: scenarios published at a moment run live over a random history
 * (HTTP ingestion, caps, quiet hours, unsubscribes, visitors who sign in, another scenario's
 * messages counting against the caps, a segment trigger), then the simulation of the same
 * definitions from that moment to the end must report exactly what the live engine did: entries,
 * messages per step and variant, suppressions by reason, goals, exits and enrolments still running.
 * docs/scenarios.md ("Simulating a draft"): the draft starts with no enrolments at `from`, as a
 * scenario published then does. Seeded, so a failure replays.
 */
import { userStream } from '@herald/projections';
import { EVENT_STORE, type EventStore, type RecordedEvent } from '../../event-store/event-store.port';
import { SegmentTimers } from '../../segments/segment-timers';
import { TestClock } from '../../shared/clock';
import { uuidv7 } from '../../shared/ids';
import { adminSend, post, passTimersTo, settleProjections, startTestApp, type TestApp } from '../../test-support/herald-test-app';
import { ScenarioTimers } from '../scenario-timers';
import { seededRandom } from '../../test-support/seeded-random';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const START = Date.parse('2026-03-02T09:00:00Z');


/** Waits, a branch on the trigger and a trait, an A/B send with a holdout, a waitFor, exitOn and a goal. */
const CART = {
  id: 'diff-cart',
  name: 'Cart',
  trigger: { event: 'Checkout Started' },
  entry: { reenter: 'after 2d' },
  exitOn: [{ event: 'Account Deleted' }],
  goal: { event: 'Order Completed', within: '48h' },
  steps: [
    { id: 'wait-1h', wait: '1h' },
    {
      id: 'route',
      branch: [
        { when: { trigger: 'value', op: 'gte', value: 100 }, next: 'reminder' },
        { when: { trait: 'plan', op: 'eq', value: 'pro' }, next: 'reminder' },
      ],
      otherwise: 'wait-order',
    },
    {
      id: 'reminder',
      send: {
        channel: 'email',
        holdout: 20,
        variants: [
          { key: 'plain', weight: 50, template: 'cart-plain', subject: 'You left something' },
          { key: 'discount', weight: 50, template: 'cart-discount', subject: '10% off' },
        ],
      },
    },
    { id: 'wait-order', waitFor: { event: 'Order Completed', timeout: '24h' }, onEvent: 'done', onTimeout: 'nudge' },
    { id: 'nudge', send: { channel: 'email', template: 'cart-plain', subject: 'Still there?' } },
    { id: 'done', exit: true },
  ],
};

/** Triggered by a segment entry, which a segment timer causes (two days without a login). */
const LAPSED = {
  id: 'diff-lapsed',
  name: 'Lapsed',
  trigger: { segment: { entered: 'lapsed' } },
  entry: { reenter: 'always' },
  goal: { event: 'Logged In', within: '3d' },
  steps: [
    { id: 'winback', send: { channel: 'sms', template: 'cart-sms' } },
    { id: 'pause', wait: '1d' },
    { id: 'offer', send: { channel: 'sms', template: 'cart-sms' } },
  ],
};

/**
 * Published from the start and never simulated: its emails count against the cart's cap in both
 * runs. Sign-ups come in the afternoon, outside everyone's quiet hours, so its emails are never
 * deferred to the moment a cart email's deferral ends: two decisions due at the same moment are
 * taken in the order their timers fire live, which a simulation cannot know (docs/scenarios.md).
 * For the same reason the segment-triggered scenario sends SMS, under a cap of its own.
 */
const WELCOME = {
  id: 'diff-welcome',
  name: 'Welcome',
  trigger: { event: 'Signed Up' },
  steps: [{ id: 'hello', send: { channel: 'email', template: 'welcome-1', subject: 'Welcome' } }],
};

type Tally = Record<string, unknown>;

/** The simulation report's numbers, computed from what the live engine appended for the scenario. */
function liveTally(events: RecordedEvent[], scenario: typeof CART | typeof LAPSED): Tally {
  const mine = events.filter((e) => (e.data as { scenarioId?: string } | undefined)?.scenarioId === scenario.id);
  const reasons = () => ({ frequency_cap: 0, quiet_hours: 0, unsubscribed: 0, holdout: 0 });
  const steps = new Map<string, { reached: Set<string>; queued: number; deferred: number; suppressed: Record<string, number>; variants: Map<string, Tally & { suppressed: Record<string, number> }> }>();
  for (const step of scenario.steps as Array<{ id: string; send?: { holdout?: number; variants?: Array<{ key: string }> } }>) {
    if (!step.send) continue;
    const variants = new Map<string, Tally & { suppressed: Record<string, number> }>();
    const keys = [...(step.send.variants ? step.send.variants.map((v) => v.key) : step.send.holdout ? ['default'] : []), ...(step.send.holdout ? ['holdout'] : [])];
    for (const key of keys) variants.set(key, { key, assigned: 0, queued: 0, deferred: 0, suppressed: reasons(), goals: 0 });
    steps.set(step.id, { reached: new Set(), queued: 0, deferred: 0, suppressed: reasons(), variants });
  }
  const assignment = new Map<string, string>();
  const suppressions: Record<string, number> = reasons();
  const exits: Record<string, number> = {};
  const persons = new Set<string>();
  const active = new Map<string, string>();
  let entries = 0;
  let goals = 0;
  for (const event of mine) {
    const data = event.data as Record<string, any>;
    const step = steps.get(data.stepId);
    const key = `${event.stream}|${data.enrollmentId}`;
    switch (event.type) {
      case 'EnrollmentStarted':
        entries += 1;
        persons.add(event.stream);
        active.set(key, '(between steps)');
        break;
      case 'EnrollmentMerged':
        active.set(key, data.step ?? '(between steps)');
        break;
      case 'TimerScheduled':
        if (active.has(key)) active.set(key, data.stepId);
        break;
      case 'EnrollmentExited':
        exits[data.reason] = (exits[data.reason] ?? 0) + 1;
        active.delete(key);
        break;
      case 'VariantAssigned': {
        assignment.set(`${data.enrollmentId}|${data.stepId}`, data.variant);
        const variant = step?.variants.get(data.variant);
        if (variant) (variant.assigned as number)++;
        break;
      }
      case 'MessageQueued':
        step!.reached.add(data.messageId);
        step!.queued++;
        if (step!.variants.has(data.variant)) (step!.variants.get(data.variant)!.queued as number)++;
        break;
      case 'MessageDeferred': {
        suppressions.quiet_hours++;
        step!.reached.add(data.messageId);
        step!.deferred++;
        step!.suppressed.quiet_hours++;
        const variant = step!.variants.get(assignment.get(`${data.enrollmentId}|${data.stepId}`)!);
        if (variant) {
          (variant.deferred as number)++;
          variant.suppressed.quiet_hours++;
        }
        break;
      }
      case 'MessageSuppressed':
        suppressions[data.reason]++;
        step!.reached.add(data.messageId);
        step!.suppressed[data.reason]++;
        if (step!.variants.has(data.variant)) step!.variants.get(data.variant)!.suppressed[data.reason]++;
        break;
      case 'GoalReached':
        goals++;
        for (const [stepId, variant] of Object.entries(data.variants as Record<string, string>)) {
          const found = steps.get(stepId)?.variants.get(variant);
          if (found) (found.goals as number)++;
        }
        break;
    }
  }
  const byStep: Record<string, number> = {};
  for (const at of active.values()) byStep[at] = (byStep[at] ?? 0) + 1;
  return {
    entries,
    enrolledPersons: persons.size,
    steps: [...steps].map(([stepId, s]) => ({
      stepId,
      reached: s.reached.size,
      queued: s.queued,
      deferred: s.deferred,
      suppressed: s.suppressed,
      variants: [...s.variants.values()].map((v) => ({ ...v, conversionRate: (v.assigned as number) > 0 ? (v.goals as number) / (v.assigned as number) : null })),
    })),
    suppressions,
    goals: { reached: goals, rate: entries > 0 ? goals / entries : null },
    exits,
    running: { total: active.size, byStep },
  };
}

/** The same fields of a simulation report. */
function reportTally(report: Record<string, any>): Tally {
  return {
    entries: report.entries,
    enrolledPersons: report.enrolledPersons,
    steps: report.steps.map(({ channel: _channel, ...step }: Record<string, unknown>) => step),
    suppressions: report.suppressions,
    goals: report.goals,
    exits: report.exits,
    running: report.running,
  };
}

let herald: TestApp;
let clock: TestClock;
beforeEach(async () => {
  clock = new TestClock(new Date(START));
  herald = await startTestApp({ clock });
  // Timers are fired by the test as the clock passes them (see passTo).
  await herald.app.get(ScenarioTimers).stop();
  await herald.app.get(SegmentTimers).stop();
});
afterEach(() => herald.destroy());

function settle(): Promise<void> {
  return settleProjections(herald);
}

/** Moves the clock to `to` and fires every timer due by then, until none is left. */
function passTo(to: number): Promise<void> {
  return passTimersTo(herald, clock, new Date(to), [herald.app.get(ScenarioTimers), herald.app.get(SegmentTimers)]);
}

it.each([1, 2])('simulating the published scenarios over their window reports what the live engine did (seed %i)', async (seed) => {
  const next = seededRandom(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)];
  const iso = (ms: number) => new Date(ms).toISOString();
  const ok = (response: { status: number; body?: unknown }) => expect({ status: response.status < 300, body: response.body }).toEqual({ status: true, body: response.body });

  ok(await adminSend('PUT', `${herald.url}/api/settings/messaging`, {
    caps: [{ channel: 'email', max: 1, per: '36h' }, { channel: 'sms', max: 1, per: '2d' }],
    quietHours: { start: '21:00', end: '08:00' },
    timezone: 'Europe/Amsterdam',
  }));
  ok(await adminSend('POST', `${herald.url}/api/segments`, { id: 'lapsed', name: 'No login for 2 days', where: { all: [{ performed: 'Logged In' }, { not: { performed: 'Logged In', within: '2d' } }] } }));
  ok(await adminSend('POST', `${herald.url}/api/scenarios`, WELCOME));

  const users = Array.from({ length: 16 }, (_, i) => `u${i}`);
  const visitors = Array.from({ length: 8 }, (_, i) => `v${i}`);
  const linked = new Set<string>();
  const known = new Set<string>();
  const steps = 260;
  let published: number | undefined;
  for (let step = 0; step < steps; step++) {
    await passTo(clock.now().getTime() + Math.floor(next() * 2 * ((16 * DAY) / steps)));
    const now = clock.now().getTime();
    if (published === undefined && now >= START + 3 * DAY) {
      // Published while history is already there: from here the live engine runs them from nothing.
      ok(await adminSend('POST', `${herald.url}/api/scenarios`, CART));
      ok(await adminSend('POST', `${herald.url}/api/scenarios`, LAPSED));
      published = now;
      continue;
    }
    const user = pick(users);
    const roll = next();
    // Some events happened a little before they arrive.
    const timestamp = next() < 0.2 ? { timestamp: iso(now - Math.floor(next() * 3 * HOUR)) } : {};
    const track = async (ids: Record<string, string>, event: string, properties: Record<string, unknown> = {}) =>
      expect((await post(`${herald.url}/v1/track`, { ...ids, event, properties, ...timestamp })).status).toBe(200);
    if (roll < 0.25) await track({ userId: user }, 'Checkout Started', { value: Math.floor(next() * 200) });
    else if (roll < 0.38) await track({ userId: user }, 'Order Completed');
    else if (roll < 0.5) await track({ userId: user }, 'Logged In');
    else if (roll < 0.55) {
      // 13:00 to 20:00 UTC: afternoon in Amsterdam and in New York.
      const hour = new Date(now).getUTCHours();
      if (hour < 13 || hour >= 20) continue;
      await track({ userId: user }, 'Signed Up');
    }
    else if (roll < 0.59) await track({ userId: user }, 'Account Deleted');
    else if (roll < 0.7) {
      const traits: Record<string, unknown> = { email: `${user}@example.com` };
      if (next() < 0.6) traits.plan = pick(['free', 'pro']);
      if (next() < 0.3) traits.timezone = pick(['America/New_York', 'Europe/Amsterdam']);
      expect((await post(`${herald.url}/v1/identify`, { userId: user, traits })).status).toBe(200);
    } else if (roll < 0.75) {
      if (!known.has(user)) continue;
      const type = next() < 0.7 ? 'Unsubscribed' : 'Subscribed';
      await herald.app.get<EventStore>(EVENT_STORE).append(userStream('default', user), [
        { id: uuidv7(), type, data: { channel: pick(['email', 'sms']) }, metadata: { workspace: 'default', occurredAt: iso(now), receivedAt: iso(now), schemaVersion: 1 } },
      ]);
    } else if (roll < 0.92) {
      const visitor = pick(visitors);
      await track({ anonymousId: visitor }, next() < 0.6 ? 'Checkout Started' : 'Order Completed', { value: 150 });
    } else {
      const visitor = pick(visitors);
      if (linked.has(visitor)) continue;
      linked.add(visitor);
      expect((await post(`${herald.url}/v1/identify`, { userId: user, anonymousId: visitor, traits: { email: `${user}@example.com` } })).status).toBe(200);
    }
    known.add(user);
  }
  const end = clock.now().getTime() + 3 * DAY;
  await passTo(end);

  const events = await herald.app.get<EventStore>(EVENT_STORE).readAll({});
  for (const scenario of [CART, LAPSED]) {
    const live = liveTally(events, scenario);
    const simulated = await adminSend('POST', `${herald.url}/api/scenarios/simulate?from=${iso(published!)}&to=${iso(end)}`, scenario);
    expect(simulated.status).toBe(200);
    expect({ scenario: scenario.id, ...reportTally(simulated.body) }).toEqual({ scenario: scenario.id, ...live });
  }
  // The history exercised what it should.
  for (const scenario of [CART, LAPSED]) {
    const tally = liveTally(events, scenario) as { entries: number; suppressions: Record<string, number>; goals: { reached: number } };
    expect(tally.entries).toBeGreaterThan(15);
    expect(tally.goals.reached).toBeGreaterThan(0);
    const reasons = Object.entries(tally.suppressions).filter(([reason, n]) => n > 0 || (scenario === LAPSED && reason === 'holdout'));
    expect(reasons.map(([reason]) => reason).sort()).toEqual(['frequency_cap', 'holdout', 'quiet_hours', 'unsubscribed']);
  }
  expect(Object.keys((liveTally(events, CART) as { exits: Record<string, number> }).exits)).toEqual(expect.arrayContaining(['exit_step', 'exit_on']));
}, 120_000);
