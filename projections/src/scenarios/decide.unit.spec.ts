import type { DomainEvent } from '../events';
import { NO_SETTINGS, type MessagingSettings } from '../messaging';
import { gbHash } from '../stats';
import { decide, USER_ACTION_TYPES, userAction } from './decide';
import { evolvePersonState, initialPersonState } from './person-state';
import type { ScenarioDefinition } from './scenario-definition';
import { ScenarioSimulator, staticCatalog } from './simulator';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-03-02T10:00:00Z');

const abandonedCart: ScenarioDefinition = {
  id: 'abandoned-cart',
  name: 'Abandoned cart',
  trigger: { event: 'Checkout Started' },
  entry: { reenter: 'after 7d' },
  exitOn: [{ event: 'Order Completed' }],
  goal: { event: 'Order Completed', within: '72h' },
  steps: [
    { id: 'wait-1h', wait: '1h' },
    {
      id: 'reminder',
      send: {
        channel: 'email',
        holdout: 10,
        variants: [
          { key: 'plain', weight: 50, subject: "You left something behind, {{ user.first_name | default: 'friend' }}", template: 'cart-plain' },
          { key: 'discount', weight: 50, subject: '10% off what you left in your cart', template: 'cart-discount' },
        ],
      },
    },
    { id: 'wait-purchase', waitFor: { event: 'Order Completed', timeout: '24h' }, onEvent: 'done', onTimeout: 'sms-nudge' },
    { id: 'sms-nudge', send: { channel: 'sms', template: 'cart-sms' } },
    { id: 'done', exit: true },
  ],
};

let sequence = 0;
function tracked(name: string, at: number, properties: Record<string, unknown> = {}): DomainEvent {
  const iso = new Date(at).toISOString();
  return { id: `e${sequence++}`, type: 'Tracked', data: { event: name, properties }, metadata: { workspace: 'w', occurredAt: iso, receivedAt: iso, schemaVersion: 1 } };
}
function identified(traits: Record<string, unknown>, at: number): DomainEvent {
  const iso = new Date(at).toISOString();
  return { id: `e${sequence++}`, type: 'Identified', data: { traits }, metadata: { workspace: 'w', occurredAt: iso, receivedAt: iso, schemaVersion: 1 } };
}
const types = (sim: ScenarioSimulator, person: string) => sim.log.filter((e) => e.person === person).map((e) => e.type);
const ofType = (sim: ScenarioSimulator, person: string, type: string) => sim.log.filter((e) => e.person === person && e.type === type);

/** A user the hash puts in a variant (not the holdout) of the reminder step. */
function userIn(variantHoldout: boolean): string {
  for (let i = 0; ; i++) {
    const bucket = gbHash('abandoned-cart:reminder', `u${i}`, 2)!;
    if ((bucket < 0.1) === variantHoldout) return `u${i}`;
  }
}

describe('abandoned cart', () => {
  it('waits an hour, emails the hashed variant, and sends the SMS after 24 h without an order', () => {
    const sim = new ScenarioSimulator(staticCatalog([{ definition: abandonedCart }]), NO_SETTINGS);
    const user = `user:${userIn(false)}`;
    sim.handle(user, tracked('Checkout Started', T0, { cart_id: 'c1' }));
    expect(types(sim, user)).toEqual(['EnrollmentStarted', 'TimerScheduled']);
    sim.advanceTo(T0 + HOUR - 1);
    expect(ofType(sim, user, 'MessageQueued')).toHaveLength(0);
    sim.advanceTo(T0 + HOUR);
    const [email] = ofType(sim, user, 'MessageQueued');
    const assigned = ofType(sim, user, 'VariantAssigned')[0].data as { variant: string; bucket: number; seed: string };
    expect(assigned.seed).toBe('abandoned-cart:reminder');
    expect(['plain', 'discount']).toContain(assigned.variant);
    expect(email.data).toMatchObject({ channel: 'email', variant: assigned.variant, template: `cart-${assigned.variant}`, variables: { event: { cart_id: 'c1' } } });
    expect(email.metadata.occurredAt).toBe(new Date(T0 + HOUR).toISOString());
    sim.advanceTo(T0 + 25 * HOUR);
    const messages = ofType(sim, user, 'MessageQueued').map((e) => (e.data as { channel: string }).channel);
    expect(messages).toEqual(['email', 'sms']);
    expect(ofType(sim, user, 'EnrollmentExited').map((e) => (e.data as { reason: string }).reason)).toEqual(['exit_step']);
  });

  it('exits on an order in between: no SMS, and the goal is recorded with the variant', () => {
    const sim = new ScenarioSimulator(staticCatalog([{ definition: abandonedCart }]), NO_SETTINGS);
    const user = `user:${userIn(false)}`;
    sim.handle(user, tracked('Checkout Started', T0));
    sim.advanceTo(T0 + 2 * HOUR);
    sim.handle(user, tracked('Order Completed', T0 + 5 * HOUR));
    sim.advanceTo(T0 + 30 * DAY);
    expect(ofType(sim, user, 'MessageQueued').map((e) => (e.data as { channel: string }).channel)).toEqual(['email']);
    expect(ofType(sim, user, 'EnrollmentExited').map((e) => (e.data as { reason: string }).reason)).toEqual(['exit_on']);
    const goal = ofType(sim, user, 'GoalReached')[0].data as { variants: Record<string, string>; afterMs: number };
    expect(goal.afterMs).toBe(5 * HOUR);
    expect(Object.keys(goal.variants)).toEqual(['reminder']);
  });

  it('counts an order within the 72 h window as the goal, after the enrolment ended too, and an order after it not at all', () => {
    const sim = new ScenarioSimulator(staticCatalog([{ definition: abandonedCart }]), NO_SETTINGS);
    const [inTime, tooLate] = [`user:${userIn(false)}`, `user:${userIn(true)}`];
    for (const user of [inTime, tooLate]) sim.handle(user, tracked('Checkout Started', T0));
    sim.advanceTo(T0 + 30 * HOUR);
    for (const user of [inTime, tooLate]) expect(ofType(sim, user, 'EnrollmentExited').map((e) => (e.data as { reason: string }).reason)).toEqual(['exit_step']);
    sim.handle(inTime, tracked('Order Completed', T0 + 72 * HOUR));
    sim.handle(tooLate, tracked('Order Completed', T0 + 72 * HOUR + 1));
    expect(ofType(sim, inTime, 'GoalReached').map((e) => (e.data as { afterMs: number }).afterMs)).toEqual([72 * HOUR]);
    expect(ofType(sim, tooLate, 'GoalReached')).toEqual([]);
  });

  it('records a holdout user as suppressed (holdout), still measured, and still nudges by SMS', () => {
    const sim = new ScenarioSimulator(staticCatalog([{ definition: abandonedCart }]), NO_SETTINGS);
    const user = `user:${userIn(true)}`;
    sim.handle(user, tracked('Checkout Started', T0));
    sim.advanceTo(T0 + 26 * HOUR);
    expect(ofType(sim, user, 'MessageSuppressed').map((e) => (e.data as { reason: string }).reason)).toEqual(['holdout']);
    expect(ofType(sim, user, 'MessageQueued').map((e) => (e.data as { channel: string }).channel)).toEqual(['sms']);
  });

  it('splits many users about 10 / 45 / 45, deterministically', () => {
    const counts: Record<string, number> = {};
    const sim = new ScenarioSimulator(staticCatalog([{ definition: abandonedCart }]), NO_SETTINGS);
    for (let i = 0; i < 2000; i++) sim.handle(`user:s${i}`, tracked('Checkout Started', T0));
    sim.advanceTo(T0 + 2 * HOUR);
    for (const event of sim.log.filter((e) => e.type === 'VariantAssigned')) {
      const variant = (event.data as { variant: string }).variant;
      counts[variant] = (counts[variant] ?? 0) + 1;
    }
    expect(counts.holdout / 2000).toBeCloseTo(0.1, 1);
    expect(counts.plain / 2000).toBeCloseTo(0.45, 1);
    expect(counts.discount / 2000).toBeCloseTo(0.45, 1);
    const again = new ScenarioSimulator(staticCatalog([{ definition: abandonedCart }]), NO_SETTINGS);
    again.handle('user:s7', tracked('Checkout Started', T0 + 40 * DAY));
    again.advanceTo(T0 + 41 * DAY);
    const first = sim.log.find((e) => e.person === 'user:s7' && e.type === 'VariantAssigned')!.data;
    expect((again.log.find((e) => e.type === 'VariantAssigned')!.data as { variant: string }).variant).toBe((first as { variant: string }).variant);
  });

  it('puts a user whose bucket is exactly on a variant boundary in the variant above it, as the documented ranges say', () => {
    // holdout 20, 50/50: [0, 0.2) holdout, [0.2, 0.6) plain, [0.6, 1) discount. Rescaling the
    // bucket, (0.6 - 0.2) / 0.8, rounds to just below 0.5 and gave plain.
    const definition = { ...abandonedCart, steps: abandonedCart.steps.map((s) => (s.id === 'reminder' && 'send' in s ? { ...s, send: { ...s.send, holdout: 20 } } : s)) };
    let id = 0;
    while (gbHash('abandoned-cart:reminder', `b${id}`, 2) !== 0.6) id++;
    const sim = new ScenarioSimulator(staticCatalog([{ definition }]), NO_SETTINGS);
    sim.handle(`user:b${id}`, tracked('Checkout Started', T0));
    sim.advanceTo(T0 + 2 * HOUR);
    expect(ofType(sim, `user:b${id}`, 'VariantAssigned').map((e) => e.data)).toMatchObject([{ bucket: 0.6, variant: 'discount' }]);
  });

  it('re-enters only 7 days after the previous start, and only one enrolment runs at a time', () => {
    const sim = new ScenarioSimulator(staticCatalog([{ definition: abandonedCart }]), NO_SETTINGS);
    const user = 'user:r1';
    sim.handle(user, tracked('Checkout Started', T0));
    sim.handle(user, tracked('Checkout Started', T0 + HOUR / 2));
    sim.advanceTo(T0 + 3 * DAY);
    sim.handle(user, tracked('Checkout Started', T0 + 3 * DAY));
    sim.advanceTo(T0 + 7 * DAY);
    sim.handle(user, tracked('Checkout Started', T0 + 7 * DAY));
    expect(ofType(sim, user, 'EnrollmentStarted')).toHaveLength(2);
  });
});

describe('caps, quiet hours, subscriptions', () => {
  const promo = (id: string, channel: 'email' | 'sms' = 'email'): ScenarioDefinition => ({
    id,
    name: id,
    trigger: { event: 'Promo' },
    entry: { reenter: 'always' },
    steps: [{ id: 'send', send: { channel, template: id } }],
  });
  const settings: MessagingSettings = {
    caps: [{ channel: 'any', max: 1, per: '1d' }],
    quietHours: { start: '21:00', end: '08:00' },
    timezone: 'Europe/Amsterdam',
  };

  it('queues one message and suppresses the second against a cap of 1, with the rule and next allowed time', () => {
    const sim = new ScenarioSimulator(staticCatalog([{ definition: promo('a') }, { definition: promo('b') }]), settings);
    sim.handle('user:c', tracked('Promo', T0));
    expect(ofType(sim, 'user:c', 'MessageQueued')).toHaveLength(1);
    const [suppressed] = ofType(sim, 'user:c', 'MessageSuppressed');
    expect(suppressed.data).toMatchObject({ reason: 'frequency_cap', rule: { channel: 'any', max: 1, per: '1d' }, nextAllowedAt: new Date(T0 + DAY).toISOString() });
  });

  it('defers a send in quiet hours to 08:00 in the user timezone, then queues it', () => {
    const sim = new ScenarioSimulator(staticCatalog([{ definition: promo('a') }]), settings);
    sim.handle('user:q', identified({ timezone: 'America/New_York' }, T0));
    const tenPmNewYork = Date.parse('2026-03-03T03:00:00Z'); // 22:00 on 2 March in New York
    sim.handle('user:q', tracked('Promo', tenPmNewYork));
    const [deferred] = ofType(sim, 'user:q', 'MessageDeferred');
    expect(deferred.data).toMatchObject({ reason: 'quiet_hours', until: '2026-03-03T13:00:00.000Z', timezone: 'America/New_York' });
    sim.advanceTo(Date.parse('2026-03-03T13:00:00Z'));
    const [queued] = ofType(sim, 'user:q', 'MessageQueued');
    expect(queued.metadata.occurredAt).toBe('2026-03-03T13:00:00.000Z');
    expect((queued.data as { messageId: string }).messageId).toBe((deferred.data as { messageId: string }).messageId);
  });

  describe('a message held by a cap and quiet hours together', () => {
    // Quiet 22:00-07:00 UTC, one message of any channel per `per`.
    const capped = (per: string): MessagingSettings => ({ caps: [{ channel: 'any', max: 1, per }], quietHours: { start: '22:00', end: '07:00' }, timezone: 'UTC' });
    const firstAndSecond = (settings: MessagingSettings, first: string, second: string) => {
      const sim = new ScenarioSimulator(staticCatalog([{ definition: { ...promo('a'), trigger: { event: 'A' } } }, { definition: { ...promo('b'), trigger: { event: 'B' } } }]), settings);
      sim.handle('user:h', tracked('A', Date.parse(first)));
      sim.handle('user:h', tracked('B', Date.parse(second)));
      return sim;
    };

    it('is suppressed when the cap blocks it outside quiet hours, even if the cap lifts during the next ones', () => {
      // The second at 13:00: capped until 00:00 (inside quiet hours), so it could only go at 07:00.
      const sim = firstAndSecond(capped('12h'), '2026-03-02T12:00:00Z', '2026-03-02T13:00:00Z');
      expect(ofType(sim, 'user:h', 'MessageDeferred')).toHaveLength(0);
      const [suppressed] = ofType(sim, 'user:h', 'MessageSuppressed');
      expect(suppressed.data).toMatchObject({ reason: 'frequency_cap', rule: { channel: 'any', max: 1, per: '12h' }, nextAllowedAt: '2026-03-03T07:00:00.000Z' });
      // Nothing goes out later either.
      sim.advanceTo(Date.parse('2026-03-04T00:00:00Z'));
      expect(ofType(sim, 'user:h', 'MessageQueued')).toHaveLength(1);
    });

    it('is deferred when quiet hours hold it now and the cap lifts before they end', () => {
      // The first at 21:00; the second at 23:00, in quiet hours, capped until 03:00, free when they end at 07:00.
      const sim = firstAndSecond(capped('6h'), '2026-03-02T21:00:00Z', '2026-03-02T23:00:00Z');
      const [deferred] = ofType(sim, 'user:h', 'MessageDeferred');
      expect(deferred.data).toMatchObject({ reason: 'quiet_hours', until: '2026-03-03T07:00:00.000Z' });
      sim.advanceTo(Date.parse('2026-03-03T07:00:00Z'));
      expect(ofType(sim, 'user:h', 'MessageQueued')).toHaveLength(2);
    });

    it('is suppressed when quiet hours hold it now but the cap outlasts them', () => {
      // The first at 08:00; the second at 23:00 is capped until 08:00 the next day, after quiet hours end.
      const sim = firstAndSecond(capped('1d'), '2026-03-02T08:00:00Z', '2026-03-02T23:00:00Z');
      expect(ofType(sim, 'user:h', 'MessageDeferred')).toHaveLength(0);
      expect(ofType(sim, 'user:h', 'MessageSuppressed').map((e) => (e.data as { reason: string }).reason)).toEqual(['frequency_cap']);
    });
  });

  it('suppresses marketing to an unsubscribed channel but lets a transactional message through caps', () => {
    const receipt: ScenarioDefinition = {
      id: 'receipt',
      name: 'Receipt',
      trigger: { api: true },
      entry: { reenter: 'always', concurrent: true },
      steps: [{ id: 'send', send: { channel: 'email', template: 'receipt', transactional: true, quietHours: 'ignore' } }],
    };
    const sim = new ScenarioSimulator(staticCatalog([{ definition: promo('a') }, { definition: receipt }]), settings);
    sim.handle('user:t', tracked('Promo', T0));
    for (let i = 0; i < 3; i++) sim.trigger('user:t', 'w', `api-${i}`, 'receipt', { order: i }, T0 + HOUR * 12);
    expect(ofType(sim, 'user:t', 'MessageQueued')).toHaveLength(4);
    const unsubscribed: DomainEvent = { ...tracked('x', T0), type: 'Unsubscribed', data: { channel: 'email' } };
    sim.handle('user:t', unsubscribed);
    sim.handle('user:t', tracked('Promo', T0 + 3 * DAY));
    expect(ofType(sim, 'user:t', 'MessageSuppressed').map((e) => (e.data as { reason: string }).reason)).toEqual(['unsubscribed']);
  });
});

describe('exactly once', () => {
  it('decides nothing for a cause it already decided on', () => {
    const catalog = staticCatalog([{ definition: abandonedCart }]);
    const sim = new ScenarioSimulator(catalog, NO_SETTINGS);
    const event = tracked('Checkout Started', T0);
    expect(sim.handle('user:x', event).length).toBeGreaterThan(0);
    expect(decide(sim.stateOf('user:x'), { cause: { kind: 'event', event }, now: T0, scenarios: catalog, settings: NO_SETTINGS })).toEqual([]);
    expect(decide(initialPersonState('user:x'), { cause: { kind: 'event', event }, now: T0, scenarios: catalog, settings: NO_SETTINGS })).not.toEqual([]);
  });
});

describe('steps', () => {
  it('branches on traits and trigger properties, waits until a local time on weekdays, and matches waitFor to the trigger', () => {
    const flow: ScenarioDefinition = {
      id: 'post-purchase',
      name: 'Post purchase',
      trigger: { event: 'Order Completed' },
      entry: { reenter: 'always', concurrent: true },
      steps: [
        { id: 'big', branch: [{ when: { trigger: 'total', op: 'gte', value: 100 }, next: 'morning' }], otherwise: 'review' },
        { id: 'morning', waitUntil: { time: '10:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] } },
        { id: 'vip', send: { channel: 'email', template: 'vip-thanks' } },
        { id: 'review', waitFor: { event: 'Review Submitted', matchTrigger: ['order_id'], timeout: '7d' }, onEvent: 'thanks', onTimeout: 'ask' },
        { id: 'ask', send: { channel: 'email', template: 'review-request' }, next: 'end' },
        { id: 'thanks', send: { channel: 'email', template: 'review-thanks' }, next: 'end' },
        { id: 'end', exit: true },
      ],
    };
    const sim = new ScenarioSimulator(staticCatalog([{ definition: flow }]), { caps: [], timezone: 'UTC' });
    const saturday = Date.parse('2026-03-07T12:00:00Z');
    sim.handle('user:p', tracked('Order Completed', saturday, { order_id: 'o1', total: 150 }));
    sim.handle('user:p', tracked('Order Completed', saturday, { order_id: 'o2', total: 20 }));
    sim.handle('user:p', tracked('Review Submitted', saturday + HOUR, { order_id: 'o9' }));
    sim.handle('user:p', tracked('Review Submitted', saturday + 2 * HOUR, { order_id: 'o2' }));
    sim.advanceTo(saturday + 10 * DAY);
    const sent = ofType(sim, 'user:p', 'MessageQueued').map((e) => [(e.data as { template: string }).template, e.metadata.occurredAt]);
    expect(sent).toEqual(
      expect.arrayContaining([
        ['review-thanks', new Date(saturday + 2 * HOUR).toISOString()],
        ['vip-thanks', '2026-03-09T10:00:00.000Z'],
      ]),
    );
    expect(sent).toHaveLength(3);
  });

  it('runs 30 simulated days for 200 users: every enrolment but the newest has ended', () => {
    const sim = new ScenarioSimulator(staticCatalog([{ definition: abandonedCart }]), { caps: [{ channel: 'any', max: 3, per: '7d' }] });
    for (let day = 0; day < 30; day++) {
      for (let u = 0; u < 200; u++) if ((u + day) % 5 === 0) sim.handle(`user:m${u}`, tracked('Checkout Started', T0 + day * DAY + u * 1000));
      sim.advanceTo(T0 + (day + 1) * DAY);
    }
    expect(sim.log.filter((e) => e.type === 'EnrollmentStarted').length).toBeGreaterThan(200);
    for (const state of sim.persons.values()) expect(Object.values(state.enrollments).every((e) => e.status === 'exited' || e.startedAt > T0 + 28 * DAY)).toBe(true);
  });
});

describe('segment triggers, segment branches and entry rules', () => {
  function segmentEvent(type: 'SegmentEntered' | 'SegmentExited', segmentId: string, at: number): DomainEvent {
    const iso = new Date(at).toISOString();
    return { id: `e${sequence++}`, type, data: { segmentId }, metadata: { workspace: 'w', occurredAt: iso, receivedAt: iso, schemaVersion: 1 } };
  }
  const lapsed: ScenarioDefinition = {
    id: 'lapsed',
    name: 'Left the active segment',
    trigger: { segment: { exited: 'active' } },
    steps: [
      { id: 'which', branch: [{ when: { segment: 'vip' }, next: 'vip-mail' }], otherwise: 'plain-mail' },
      { id: 'plain-mail', send: { channel: 'email', template: 'plain' }, next: 'end' },
      { id: 'vip-mail', send: { channel: 'email', template: 'vip' } },
      { id: 'end', exit: true },
    ],
  };
  const templates = (sim: ScenarioSimulator, person: string) => ofType(sim, person, 'MessageQueued').map((e) => (e.data as { template: string }).template);

  it('enrols on leaving the named segment only, branches on membership of another, and enrols once by default', () => {
    const sim = new ScenarioSimulator(staticCatalog([{ definition: lapsed }]), NO_SETTINGS);
    sim.handle('user:vip', segmentEvent('SegmentEntered', 'vip', T0));
    sim.handle('user:vip', segmentEvent('SegmentEntered', 'active', T0));
    sim.handle('user:vip', segmentEvent('SegmentExited', 'active', T0 + HOUR));
    sim.handle('user:plain', segmentEvent('SegmentEntered', 'active', T0));
    // Entering the segment, or leaving another one, is not the trigger.
    sim.handle('user:plain', segmentEvent('SegmentExited', 'other', T0 + HOUR));
    expect(ofType(sim, 'user:plain', 'EnrollmentStarted')).toHaveLength(0);
    sim.handle('user:plain', segmentEvent('SegmentExited', 'active', T0 + 2 * HOUR));
    // reenter defaults to once: leaving again later enrols no one a second time.
    sim.handle('user:plain', segmentEvent('SegmentEntered', 'active', T0 + 3 * HOUR));
    sim.handle('user:plain', segmentEvent('SegmentExited', 'active', T0 + 30 * DAY));
    sim.advanceTo(T0 + 31 * DAY);
    expect(templates(sim, 'user:vip')).toEqual(['vip']);
    expect(templates(sim, 'user:plain')).toEqual(['plain']);
    expect(ofType(sim, 'user:plain', 'EnrollmentStarted')).toHaveLength(1);
  });

  it('enrols on entering a segment, and with reenter: always starts again only after the running enrolment ended', () => {
    const welcome: ScenarioDefinition = {
      id: 'vip-welcome',
      name: 'Welcome to VIP',
      trigger: { segment: { entered: 'vip' } },
      entry: { reenter: 'always' },
      steps: [
        { id: 'wait', wait: '1d' },
        { id: 'mail', send: { channel: 'email', template: 'vip-welcome' } },
      ],
    };
    const sim = new ScenarioSimulator(staticCatalog([{ definition: welcome }]), NO_SETTINGS);
    sim.handle('user:v', segmentEvent('SegmentEntered', 'vip', T0));
    sim.handle('user:v', segmentEvent('SegmentExited', 'vip', T0 + HOUR));
    // Still waiting in the first enrolment: at most one runs at a time.
    sim.handle('user:v', segmentEvent('SegmentEntered', 'vip', T0 + 2 * HOUR));
    sim.advanceTo(T0 + 2 * DAY);
    sim.handle('user:v', segmentEvent('SegmentExited', 'vip', T0 + 2 * DAY));
    sim.handle('user:v', segmentEvent('SegmentEntered', 'vip', T0 + 3 * DAY));
    sim.advanceTo(T0 + 5 * DAY);
    expect(ofType(sim, 'user:v', 'EnrollmentStarted')).toHaveLength(2);
    expect(templates(sim, 'user:v')).toEqual(['vip-welcome', 'vip-welcome']);
  });
});

describe('versions', () => {
  const v1: ScenarioDefinition = {
    id: 'drip',
    name: 'Drip',
    trigger: { event: 'Signed Up' },
    steps: [
      { id: 'wait', wait: '1d' },
      { id: 'mail', send: { channel: 'email', template: 'drip-v1' } },
    ],
  };
  const v2 = (migrate: boolean): ScenarioDefinition => ({ ...v1, migrate, steps: [v1.steps[0], { id: 'mail', send: { channel: 'email', template: 'drip-v2' } }] });

  /** Publishes v2 while the enrolment waits, through a catalog view that reads a list we change. */
  function runWithPublishDuringWait(second: ScenarioDefinition): string[] {
    const entries: Array<{ definition: ScenarioDefinition; version: number }> = [{ definition: v1, version: 1 }];
    const view = {
      current: () => staticCatalog(entries).current(),
      version: (id: string, version: number) => staticCatalog(entries).version(id, version),
      latest: (id: string) => staticCatalog(entries).latest(id),
    };
    const sim = new ScenarioSimulator(view, NO_SETTINGS);
    sim.handle('user:v', tracked('Signed Up', T0));
    sim.advanceTo(T0 + HOUR);
    entries.push({ definition: second, version: 2 });
    sim.advanceTo(T0 + 2 * DAY);
    return ofType(sim, 'user:v', 'MessageQueued').map((e) => (e.data as { template: string }).template);
  }

  it('finishes a running enrolment on the version it started on', () => {
    expect(runWithPublishDuringWait(v2(false))).toEqual(['drip-v1']);
  });

  it('moves it to the new version when that version says migrate', () => {
    expect(runWithPublishDuringWait(v2(true))).toEqual(['drip-v2']);
  });
});

describe('userAction', () => {
  // The server's scenarios projection reads only USER_ACTION_TYPES among the tracking calls: every
  // type userAction acts on must be in it.
  const event = (type: string): DomainEvent => ({
    id: `e-${type}`,
    type,
    data: { event: 'Signed Up', name: 'Home', properties: {} },
    metadata: { workspace: 'default', occurredAt: '2026-03-02T10:00:00.000Z', receivedAt: '2026-03-02T10:00:00.000Z', schemaVersion: 1 },
  });
  it.each(['Tracked', 'Identified', 'PageViewed', 'ScreenViewed', 'Grouped', 'Aliased', 'SegmentEntered', 'TimerFired'])(
    'is a user action exactly when its type is in USER_ACTION_TYPES (%s)',
    (type) => {
      expect(userAction(event(type)) !== undefined).toBe((USER_ACTION_TYPES as readonly string[]).includes(type));
    },
  );
});

describe("dates in the person's zone, and the time of an action", () => {
  const tokyo = (sim: ScenarioSimulator, at: number) => sim.handle('user:k', identified({ timezone: 'Asia/Tokyo', signup_at: '2026-03-01T23:30:00Z' }, at));
  // 23:30 UTC on 1 March is 08:30 on 2 March in Tokyo.
  const utcSettings: MessagingSettings = { caps: [], timezone: 'UTC' };

  it('reads a trigger filter date without an offset in the person zone, as segments do', () => {
    const booked: ScenarioDefinition = {
      id: 'booked',
      name: 'Booked',
      trigger: { event: 'Booked', where: [{ property: 'date', op: 'gte', value: '2026-03-02' }] },
      steps: [{ id: 'send', send: { channel: 'email', template: 't' } }],
    };
    const sim = new ScenarioSimulator(staticCatalog([{ definition: booked }]), utcSettings);
    tokyo(sim, T0);
    sim.handle('user:k', tracked('Booked', T0 + HOUR, { date: '2026-03-01T23:30:00Z' }));
    expect(ofType(sim, 'user:k', 'EnrollmentStarted')).toHaveLength(1);
  });

  it('reads a branch on a trait date in the person zone, as the segment with the same condition does', () => {
    const welcome: ScenarioDefinition = {
      id: 'welcome',
      name: 'Welcome',
      trigger: { event: 'Go' },
      steps: [
        { id: 'when', branch: [{ when: { trait: 'signup_at', op: 'gte', value: '2026-03-02' }, next: 'new' }], otherwise: 'old' },
        { id: 'new', send: { channel: 'email', template: 'new' } },
        { id: 'done', exit: true },
        { id: 'old', send: { channel: 'email', template: 'old' } },
      ],
    };
    const sim = new ScenarioSimulator(staticCatalog([{ definition: welcome }]), utcSettings);
    tokyo(sim, T0);
    sim.handle('user:k', tracked('Go', T0 + HOUR));
    expect(ofType(sim, 'user:k', 'MessageQueued').map((e) => (e.data as { template: string }).template)).toEqual(['new']);
  });

  it('times a goal by when the action happened, but never later than it was received', () => {
    const sim = new ScenarioSimulator(staticCatalog([{ definition: abandonedCart }]), utcSettings);
    sim.handle('user:g', tracked('Checkout Started', T0, { cart_id: 'c1' }));
    // Received 71 h after the checkout, from a device whose clock is 9 h ahead.
    const received = T0 + 71 * HOUR;
    const order: DomainEvent = { ...tracked('Order Completed', received, { cart_id: 'c1' }) };
    order.metadata = { ...order.metadata, occurredAt: new Date(received + 9 * HOUR).toISOString() };
    sim.advanceTo(received);
    sim.handle('user:g', order);
    expect(ofType(sim, 'user:g', 'GoalReached')).toHaveLength(1);
  });

  it('counts the goal window from the moment the enrolment started, not from when its cause arrived', () => {
    // As the server records it: started at a segment timer's due time, the cause received 2 h later.
    const started: DomainEvent = {
      id: 'd1',
      type: 'EnrollmentStarted',
      data: { enrollmentId: 'abandoned-cart/1', scenarioId: 'abandoned-cart', version: 1, person: 'user:s', trigger: { eventId: 'x', type: 'SegmentEntered', properties: {} } },
      metadata: { workspace: 'w', causationId: 'x', occurredAt: new Date(T0).toISOString(), receivedAt: new Date(T0 + 2 * HOUR).toISOString(), schemaVersion: 1 },
    };
    const state = evolvePersonState(initialPersonState('user:s'), started);
    expect(state.enrollments['abandoned-cart/1'].startedAt).toBe(T0);
    // 73 h after the start: outside the 72 h window, though within 72 h of the cause's arrival.
    const order = tracked('Order Completed', T0 + 73 * HOUR);
    const decisions = decide(state, { cause: { kind: 'event', event: order }, now: T0 + 73 * HOUR, scenarios: staticCatalog([{ definition: abandonedCart }]), settings: utcSettings });
    expect(decisions.filter((d) => d.type === 'GoalReached')).toEqual([]);
  });
});
